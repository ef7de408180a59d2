-- Pre-signed OCSP answers shared by every node (store/ocsp_answers.h):
-- one row per answered certificate of the issuing CA, found by serial on a
-- cache miss; the refresh walk reads the most overdue through refresh_at.
CREATE TABLE ocsp_answers (
  serial      TEXT COLLATE "C" PRIMARY KEY,
  not_after   BIGINT NOT NULL,
  this_update BIGINT NOT NULL,
  next_update BIGINT NOT NULL,
  refresh_at  BIGINT NOT NULL,
  status      TEXT NOT NULL CHECK (status IN ('valid', 'revoked')),
  reason      INTEGER,
  sha1_der    BYTEA NOT NULL,
  sha256_der  BYTEA
);
CREATE INDEX ocsp_answers_refresh_at ON ocsp_answers (refresh_at);
