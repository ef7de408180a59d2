-- The dashboard's counts (store/overview.h), answered from indexes at
-- 1,000,000 certificates (bench/dashboard_bench.sh):
-- counts by status, certificates expiring in a window and the expiry
-- histogram: an index-only range per status.
CREATE INDEX certificates_status_not_after ON certificates (status, not_after);
-- The issuance rate (issued in the last hour, day, week).
CREATE INDEX certificates_issued_at ON certificates (issued_at);
-- Revocations since T: revoked rows only (written at revocation, not issuance).
CREATE INDEX certificates_revoked_at ON certificates (revoked_at) WHERE status = 'revoked';
-- The CA certificates (the hierarchy page): a handful of rows.
CREATE INDEX certificates_cas ON certificates (not_after)
  WHERE profile IN ('root-ca', 'intermediate-ca', 'issuing-ca');
-- A certificate's revocation history: revocation events only.
CREATE INDEX audit_log_revocation_serial ON audit_log (serial)
  WHERE action IN ('revoke', 'release_hold');
