-- Several `herald serve` nodes on one database: secrets every node shares
-- (the ACME nonce key) and leases for the work one node at a time does.
CREATE TABLE shared_secrets (
  name   TEXT PRIMARY KEY,
  value  BYTEA NOT NULL
);
CREATE TABLE leases (
  name        TEXT PRIMARY KEY,
  holder      TEXT NOT NULL,
  expires_at  BIGINT NOT NULL
);
