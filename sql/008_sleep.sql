-- Deep sleep (issue 29): a suspended container preview is frozen (memory in
-- RAM) or reclaimed (memory pushed out to swap, its cgroup limit lowered). The
-- stage is kept so that a restarted daemon gives a reclaimed preview its
-- memory limit back before it thaws it. NULL while awake.
ALTER TABLE previewd.previews
  ADD COLUMN sleep text CHECK (sleep IN ('frozen', 'reclaimed'));
