-- Herald's PostgreSQL schema: the same tables and columns as the SQLite
-- store at its schema version 9 (times in unix seconds, serials as
-- upper-case hex text, JSON documents as text). Append only: never edit a
-- migration that has shipped; add 0002_....sql instead.

-- Text compared byte-wise (as SQLite does) whatever the database's locale,
-- so serials and ids order the same on every store.
CREATE TABLE certificates (
  serial              TEXT COLLATE "C" PRIMARY KEY,
  issuer_serial       TEXT COLLATE "C" NOT NULL,
  subject             TEXT NOT NULL,
  common_name         TEXT NOT NULL,
  sans                TEXT NOT NULL,
  issuer              TEXT NOT NULL,
  not_before          BIGINT NOT NULL,
  not_after           BIGINT NOT NULL,
  key_algorithm       TEXT NOT NULL,
  key_bits            INTEGER NOT NULL,
  signature_algorithm TEXT NOT NULL,
  eku                 TEXT NOT NULL,
  profile             TEXT NOT NULL,
  fingerprint_sha256  TEXT NOT NULL UNIQUE,
  owner               TEXT NOT NULL,
  status              TEXT NOT NULL CHECK (status IN ('valid', 'revoked')),
  revoked_at          BIGINT,
  revocation_reason   INTEGER,
  issued_at           BIGINT NOT NULL,
  der                 BYTEA NOT NULL
);
CREATE INDEX certificates_not_after ON certificates (not_after);
CREATE INDEX certificates_issuer_status ON certificates (issuer_serial, status);
CREATE INDEX certificates_revoked
  ON certificates (issuer_serial, not_after, serial, revoked_at, revocation_reason)
  WHERE status = 'revoked';

CREATE TABLE crl_numbers (
  ca     TEXT COLLATE "C" PRIMARY KEY,
  number BIGINT NOT NULL CHECK (number > 0)
);

-- Revocation events (action 'revoke' / 'release_hold') take their ids under
-- a transaction-scoped advisory lock, so ids of those follow commit order.
CREATE TABLE audit_log (
  id     BIGSERIAL PRIMARY KEY,
  at     BIGINT NOT NULL,
  action TEXT NOT NULL,
  serial TEXT COLLATE "C",
  detail TEXT NOT NULL
);
CREATE INDEX audit_log_action ON audit_log (action, id);

CREATE TABLE api_tokens (
  id          BIGSERIAL PRIMARY KEY,
  provisioner TEXT NOT NULL,
  description TEXT NOT NULL,
  sha256      TEXT NOT NULL UNIQUE,
  created_at  BIGINT NOT NULL,
  revoked     BOOLEAN NOT NULL DEFAULT false
);

CREATE TABLE used_token_ids (
  jti        TEXT COLLATE "C" PRIMARY KEY,
  expires_at BIGINT NOT NULL
);
CREATE INDEX used_token_ids_expires ON used_token_ids (expires_at);

-- ACME (RFC 8555): JSON documents plus their lookup columns.
CREATE TABLE acme_accounts (
  id          TEXT COLLATE "C" PRIMARY KEY,
  provisioner TEXT NOT NULL,
  thumbprint  TEXT NOT NULL,
  data        TEXT NOT NULL,
  created_at  BIGINT NOT NULL,
  UNIQUE (provisioner, thumbprint)
);
CREATE TABLE acme_orders (
  id         TEXT COLLATE "C" PRIMARY KEY,
  account_id TEXT COLLATE "C" NOT NULL REFERENCES acme_accounts (id),
  data       TEXT NOT NULL,
  created_at BIGINT NOT NULL
);
CREATE INDEX acme_orders_account ON acme_orders (account_id, created_at);
CREATE INDEX acme_orders_created ON acme_orders (created_at);
CREATE TABLE acme_authzs (
  id       TEXT COLLATE "C" PRIMARY KEY,
  order_id TEXT COLLATE "C" NOT NULL REFERENCES acme_orders (id),
  data     TEXT NOT NULL
);
CREATE INDEX acme_authzs_order ON acme_authzs (order_id);

CREATE TABLE acme_eab_keys (
  kid         TEXT COLLATE "C" PRIMARY KEY,
  provisioner TEXT NOT NULL,
  hmac_key    TEXT NOT NULL,
  created_at  BIGINT NOT NULL,
  account_id  TEXT COLLATE "C"
);

-- The identifiers each ACME order names, for the per-identifier rate limit.
CREATE TABLE acme_order_identifiers (
  identifier TEXT NOT NULL,
  order_id   TEXT COLLATE "C" NOT NULL REFERENCES acme_orders (id),
  created_at BIGINT NOT NULL
);
CREATE INDEX acme_order_identifiers_recent ON acme_order_identifiers (identifier, created_at);
CREATE INDEX acme_order_identifiers_order ON acme_order_identifiers (order_id);

-- An order document's "status" and "expires_unix", NULL when the document
-- is not JSON or the field is missing or of another type (SQLite's
-- json_valid/json_extract guards). Immutable: usable in indexes.
CREATE FUNCTION herald_order_status(doc TEXT) RETURNS TEXT
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE j JSONB;
BEGIN
  j := doc::jsonb;
  IF jsonb_typeof(j) = 'object' AND jsonb_typeof(j -> 'status') = 'string' THEN
    RETURN j ->> 'status';
  END IF;
  RETURN NULL;
EXCEPTION WHEN OTHERS THEN
  RETURN NULL;
END $$;

CREATE FUNCTION herald_order_expires(doc TEXT) RETURNS BIGINT
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE j JSONB;
BEGIN
  j := doc::jsonb;
  IF jsonb_typeof(j) = 'object' AND jsonb_typeof(j -> 'expires_unix') = 'number' THEN
    RETURN trunc((j ->> 'expires_unix')::numeric)::bigint;
  END IF;
  RETURN NULL;
EXCEPTION WHEN OTHERS THEN
  RETURN NULL;
END $$;

-- The pending-orders limit reads only an account's open orders, soonest
-- expiry first (the expressions must match check_pending's query).
CREATE INDEX acme_orders_open ON acme_orders (account_id, herald_order_expires(data))
  WHERE herald_order_status(data) IN ('pending', 'ready');
