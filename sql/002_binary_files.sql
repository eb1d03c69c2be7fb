-- Binary files (images, fonts, wasm...) are kept as bytes, byte for byte, in
-- `data`; text stays in `content`, readable with psql. Exactly one is set.
-- Text with a NUL byte goes to `data` too: a PostgreSQL text cannot hold NUL.
ALTER TABLE previewd.preview_files
  ALTER COLUMN content DROP NOT NULL,
  ADD COLUMN data bytea,
  ADD CONSTRAINT preview_files_one_content CHECK ((content IS NULL) <> (data IS NULL));
