-- Expiry alerts and webhooks (store/alerts.h, postgres_alerts.cc): claims
-- that make each alert go out once across nodes and restarts, the alerts
-- sent, silences, and deliveries that exhausted their retries.
CREATE TABLE alert_claims (
  key         TEXT PRIMARY KEY,
  claimed_at  BIGINT NOT NULL
);
CREATE TABLE alerts_sent (
  id      BIGSERIAL PRIMARY KEY,
  key     TEXT NOT NULL,
  kind    TEXT NOT NULL,
  serial  TEXT NOT NULL,
  at      BIGINT NOT NULL,
  target  TEXT NOT NULL,
  result  TEXT NOT NULL
);
CREATE TABLE alert_silences (
  id           BIGSERIAL PRIMARY KEY,
  owner_key    TEXT NOT NULL,
  owner_value  TEXT NOT NULL,
  serial       TEXT NOT NULL,
  ends_at      BIGINT NOT NULL,
  reason       TEXT NOT NULL,
  created_by   TEXT NOT NULL,
  created_at   BIGINT NOT NULL
);
CREATE INDEX alert_silences_ends_at ON alert_silences (ends_at);
CREATE TABLE alert_dead_letters (
  id          BIGSERIAL PRIMARY KEY,
  target      TEXT NOT NULL,
  url         TEXT NOT NULL,
  payload     TEXT NOT NULL,
  last_error  TEXT NOT NULL,
  attempts    INTEGER NOT NULL,
  at          BIGINT NOT NULL
);
