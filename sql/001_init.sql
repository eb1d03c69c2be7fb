-- The daemon's own state. Every node of a cluster shares this schema when
-- DATABASE_URL points at one PostgreSQL (Supabase in production); it is the
-- durable record of which preview lives where.
--
-- Preview roles must never see it: PUBLIC gets nothing here (preview roles
-- are members of no other role, so PUBLIC is all they have).
CREATE SCHEMA IF NOT EXISTS previewd;
REVOKE ALL ON SCHEMA previewd FROM PUBLIC;

CREATE TABLE previewd.previews (
  id             text PRIMARY KEY,
  node           text NOT NULL,
  tier           text NOT NULL,
  status         text NOT NULL,
  -- command, port, env, database request and tier; files live in preview_files
  spec           jsonb NOT NULL,
  db_schema      text,
  db_url         text,
  failure        text,
  container_id   text,
  created_at     timestamptz NOT NULL DEFAULT now(),
  last_active_at timestamptz NOT NULL DEFAULT now(),
  updated_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX previews_node_idx ON previewd.previews (node);

CREATE TABLE previewd.preview_files (
  preview_id text NOT NULL REFERENCES previewd.previews (id) ON DELETE CASCADE,
  path       text NOT NULL,
  content    text NOT NULL,
  PRIMARY KEY (preview_id, path)
);

CREATE TABLE previewd.deployments (
  id         text PRIMARY KEY,
  preview_id text NOT NULL,
  provider   text NOT NULL,
  status     text NOT NULL,
  url        text,
  error      text,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX deployments_preview_idx ON previewd.deployments (preview_id);

-- Tables created later in this schema get no PUBLIC grants either (the
-- default already, said out loud so a future migration does not undo it).
REVOKE ALL ON ALL TABLES IN SCHEMA previewd FROM PUBLIC;
