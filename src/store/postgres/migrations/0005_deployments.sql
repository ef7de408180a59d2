-- Deployments seen by `herald scan` (store/deployments.h): one row per
-- (endpoint, SNI sent, leaf fingerprint), and the leaves not issued by this
-- CA ("foreign"), kept once each.
CREATE TABLE deployments (
  endpoint            TEXT NOT NULL,
  sni                 TEXT NOT NULL,
  fingerprint_sha256  TEXT NOT NULL,
  serial_hex          TEXT NOT NULL,
  is_foreign          BOOLEAN NOT NULL,
  subject             TEXT NOT NULL,
  not_after           BIGINT NOT NULL,
  chain               TEXT NOT NULL,
  problems            TEXT NOT NULL,
  first_seen          BIGINT NOT NULL,
  last_seen           BIGINT NOT NULL,
  PRIMARY KEY (endpoint, sni, fingerprint_sha256)
);
CREATE INDEX deployments_fingerprint ON deployments (fingerprint_sha256);
CREATE INDEX deployments_last_seen ON deployments (last_seen);
CREATE TABLE discovered_certificates (
  fingerprint_sha256   TEXT PRIMARY KEY,
  serial_hex           TEXT NOT NULL,
  subject              TEXT NOT NULL,
  issuer               TEXT NOT NULL,
  sans                 TEXT NOT NULL,
  not_before           BIGINT NOT NULL,
  not_after            BIGINT NOT NULL,
  key_algorithm        TEXT NOT NULL,
  key_bits             INTEGER NOT NULL,
  signature_algorithm  TEXT NOT NULL,
  der                  BYTEA NOT NULL,
  first_seen           BIGINT NOT NULL
);
CREATE INDEX discovered_certificates_not_after ON discovered_certificates (not_after);
