-- The CRL the node holding the signing lease published, so that every node
-- serves the same one (CRL numbers never go back from one node to another).
CREATE TABLE published_crls (
  ca           TEXT PRIMARY KEY,
  number       BIGINT NOT NULL,
  der          BYTEA NOT NULL,
  this_update  BIGINT NOT NULL,
  next_update  BIGINT NOT NULL
);
