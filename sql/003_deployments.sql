-- Deployments become resumable step machines: which node runs one, what was
-- asked, each finished step, and every id the provider handed out (so a
-- restart in the middle continues instead of creating a second project).
ALTER TABLE previewd.deployments
  ADD COLUMN node         text NOT NULL DEFAULT '',
  ADD COLUMN request      jsonb NOT NULL DEFAULT '{}',
  ADD COLUMN steps        jsonb NOT NULL DEFAULT '[]',
  ADD COLUMN provider_ids jsonb NOT NULL DEFAULT '{}',
  ADD COLUMN data         jsonb,
  ADD COLUMN error_step   text,
  ADD COLUMN cancel       boolean NOT NULL DEFAULT false;

-- One deployment in progress per preview: a second deploy while one runs is
-- refused by the database itself, whichever node takes it.
CREATE UNIQUE INDEX deployments_one_active_idx ON previewd.deployments (preview_id)
  WHERE status NOT IN ('live', 'failed', 'removed');
