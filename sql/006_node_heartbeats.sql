-- Each clustered node writes its heartbeat here every second (peer/recovery.ts).
-- Gossip alone cannot tell a dead node from one on the far side of a network
-- split; every node still reaching this shared database can. Recovery takes
-- a preview away from a node only once the node's heartbeat here is stale, so
-- in a split where both sides reach PostgreSQL nothing moves and no preview
-- runs on both sides.
CREATE TABLE previewd.node_heartbeats (
  node    text PRIMARY KEY,
  seen_at timestamptz NOT NULL DEFAULT now()
);
REVOKE ALL ON previewd.node_heartbeats FROM PUBLIC;
