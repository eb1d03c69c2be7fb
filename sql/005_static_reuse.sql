-- A build is a function of the app's files and the image it ran in: the same
-- inputs reuse an earlier build's output instead of building again.
ALTER TABLE previewd.static_builds ADD COLUMN source_hash text;
CREATE INDEX static_builds_source_idx ON previewd.static_builds (source_hash) WHERE build_id <> '';
