-- Deploying again: a deployment is a first one (create), an update of the
-- live one (new code, the schema change carried, production's rows kept)
-- or a rollback. An update records the migration it planned and rehearsed
-- (`migration`, public) and what a resumed run needs to plan it again
-- (`plan`); a refusal names what to confirm (`error_details`).
ALTER TABLE previewd.deployments
  ADD COLUMN mode          text NOT NULL DEFAULT 'create',
  ADD COLUMN migration     jsonb,
  ADD COLUMN plan          jsonb,
  ADD COLUMN error_details jsonb;
