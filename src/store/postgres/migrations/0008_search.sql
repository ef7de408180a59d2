-- The inventory's searches from indexes (issue #14), written with the
-- certificate in the same statement (postgres_store.cc, insert_one and
-- insert_row):
-- cert_names: one row per search key of a certificate's SANs
-- (store::name_search_keys: each name, ASCII lower-cased without its type
-- prefix, and its suffixes after '.', '@', '/', ':'); a SAN search is a
-- range of keys (store::name_search_range), so the keys compare byte-wise
-- (COLLATE "C"). The index on serial serves per-certificate probes and the
-- cascade.
CREATE TABLE cert_names (
  name    text COLLATE "C" NOT NULL,
  serial  text NOT NULL REFERENCES certificates (serial) ON DELETE CASCADE,
  PRIMARY KEY (name, serial)
);
CREATE INDEX cert_names_serial ON cert_names (serial);
-- cert_labels: one row per owner label.
CREATE TABLE cert_labels (
  key     text COLLATE "C" NOT NULL,
  value   text COLLATE "C" NOT NULL,
  serial  text NOT NULL REFERENCES certificates (serial) ON DELETE CASCADE,
  PRIMARY KEY (key, value, serial)
);
CREATE INDEX cert_labels_serial ON cert_labels (serial);
-- A profile's listing in the listing's order (not_after, serial), and its count.
CREATE INDEX certificates_profile ON certificates (profile, not_after, serial);
-- The backfill: name_search_keys in SQL (lower() under "C" folds ASCII only,
-- as name_search_keys does).
INSERT INTO cert_names (name, serial)
SELECT DISTINCT k.name, c.serial
  FROM certificates AS c
  CROSS JOIN LATERAL jsonb_array_elements_text(c.sans::jsonb) AS s(v)
  CROSS JOIN LATERAL (SELECT lower(substr(s.v, strpos(s.v, ':') + 1) COLLATE "C") AS n) AS x
  CROSS JOIN LATERAL (
    SELECT substr(x.n, i + 1) AS name FROM generate_series(0, length(x.n) - 1) AS i
     WHERE i = 0 OR substr(x.n, i, 1) IN ('.', '@', '/', ':')) AS k
 WHERE k.name <> '';
INSERT INTO cert_labels (key, value, serial)
SELECT j.key, j.value #>> '{}', c.serial
  FROM certificates AS c CROSS JOIN LATERAL jsonb_each(c.owner::jsonb) AS j
 WHERE jsonb_typeof(j.value) = 'string';
