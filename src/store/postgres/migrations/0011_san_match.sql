-- herald_san_match(sans, low, high): whether a search key of a certificate's
-- SANs (its sans column, JSON text of "type:value" strings; the keys of
-- store::name_search_keys) is in [low, high) in byte order, high NULL for
-- no upper bound. A listing that walks notAfter order (list_filter_sql.h)
-- checks each certificate with it from the row it has read, with no
-- per-row subplan on cert_names.
--
-- herald_san_keys_match computes the keys as 0008_search.sql's backfill
-- does (tens of microseconds a certificate). herald_san_match, inlined
-- into the query, first rules out most certificates in about a microsecond
-- when [low, high) is a store::name_search_range (with a high: the keys
-- that start with low) and low has only the characters below, which every
-- JSON writer writes as themselves: such a key is a piece of a SAN's value,
-- ASCII lower-cased, that starts right after a '.', '@', '/' or ':' of the
-- value or its start (after the "type:" prefix's ':', or the string's
-- opening quote), so the lower-cased JSON text has one of those characters
-- followed by low (E'' strings: the same backslashes whatever
-- standard_conforming_strings says).
CREATE FUNCTION herald_san_keys_match(sans text, low text, high text) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT EXISTS (
    SELECT 1
      FROM jsonb_array_elements_text(sans::jsonb) AS s(v)
      CROSS JOIN LATERAL (SELECT lower(substr(s.v, strpos(s.v, ':') + 1) COLLATE "C") AS n) AS x
      CROSS JOIN LATERAL generate_series(0, length(x.n) - 1) AS i
     WHERE (i = 0 OR substr(x.n, i, 1) IN ('.', '@', '/', ':'))
       AND substr(x.n, i + 1) <> ''
       AND substr(x.n, i + 1) >= low COLLATE "C"
       AND (high IS NULL OR substr(x.n, i + 1) < high COLLATE "C"))
$$;
CREATE FUNCTION herald_san_match(sans text, low text, high text) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT CASE
    WHEN high IS NOT NULL AND low COLLATE "C" ~ '^[a-z0-9.@:_*-]+$'
         AND NOT lower(sans COLLATE "C") ~ ('[.@/:"]' || replace(replace(low, '.', E'\\.'), '*', E'\\*'))
      THEN false
    ELSE herald_san_keys_match(sans, low, high)
  END
$$;
