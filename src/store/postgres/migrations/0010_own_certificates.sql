-- /metrics' expiring counts (count_expiring) from indexes: the valid
-- certificates in a window from certificates_status_not_after (0007), and
-- herald serve's own, which are left out, from this small partial index.
CREATE INDEX certificates_own ON certificates (not_after)
  WHERE profile = 'ocsp-signer' OR (owner::jsonb ->> 'service') = 'herald-serve';
