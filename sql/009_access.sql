-- Private previews and share links (issue 30). `visibility` is its own
-- column, written only by a create and by PATCH /v1/previews/{id}: the
-- orchestrator rewrites `spec` from its in-memory copy, which would undo a
-- change kept there. Every node reads the column and the revoked shares once
-- a second (src/access/sync.ts), so the proxy decides without a query per
-- request. A share row is kept after DELETE (revoked_at set) until it expires:
-- its tokens and cookies are refused by id until their own expiry does it.
ALTER TABLE previewd.previews ADD COLUMN visibility text NOT NULL DEFAULT 'public';

CREATE TABLE previewd.preview_shares (
  id            text PRIMARY KEY,
  preview_id    text NOT NULL,
  expires_at    timestamptz NOT NULL,
  -- Bun.password (argon2id) of the share's password; NULL: no password
  password_hash text,
  created_at    timestamptz NOT NULL DEFAULT now(),
  revoked_at    timestamptz
);
CREATE INDEX preview_shares_preview_idx ON previewd.preview_shares (preview_id);
CREATE INDEX preview_shares_revoked_idx ON previewd.preview_shares (expires_at) WHERE revoked_at IS NOT NULL;
REVOKE ALL ON previewd.preview_shares FROM PUBLIC;
