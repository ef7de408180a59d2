-- Fewer index entries per issued certificate (issue #13: every index is
-- one more B-tree insert and WAL record per certificate, on the request
-- path). Nothing reads these three; what they served is kept otherwise.

-- No query reads (issuer_serial, status): revoked_by() reads the partial
-- index certificates_revoked.
DROP INDEX certificates_issuer_status;

-- A fingerprint is the SHA-256 of the DER, and the DER holds the serial, so
-- two rows with one fingerprint would have one serial: the primary key
-- already refuses them. No query looks a certificate up by fingerprint.
ALTER TABLE certificates DROP CONSTRAINT certificates_fingerprint_sha256_key;

-- The revocation feed (revocations_since, last_revocation_id) reads
-- revocation events by id; 'issue' rows, one per certificate, need no
-- entry. Other actions are read by a scan (audit_entries: the CLI and
-- store migrate, never the request path).
DROP INDEX audit_log_action;
CREATE INDEX audit_log_revocations ON audit_log (id) WHERE action IN ('revoke', 'release_hold');
