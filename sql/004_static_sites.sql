-- The browser tier: what a frontend-only preview's build produced, served by
-- every node from here (so its URL answers from any node, after a restart or
-- a node's death). One build per preview; a new build replaces it whole.
CREATE TABLE previewd.static_builds (
  preview_id text PRIMARY KEY REFERENCES previewd.previews (id) ON DELETE CASCADE,
  build_id   text NOT NULL,
  log        text NOT NULL DEFAULT '',
  built_at   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE previewd.static_files (
  preview_id text NOT NULL REFERENCES previewd.previews (id) ON DELETE CASCADE,
  path       text NOT NULL,
  data       bytea NOT NULL,
  PRIMARY KEY (preview_id, path)
);
