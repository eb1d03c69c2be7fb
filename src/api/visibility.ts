// The previews service with each view's visibility as this node's proxy
// enforces it. The value lives in its own column (sql/009_access.sql); the
// node that runs a preview answers from the record it holds in memory, which
// a PATCH made through another node does not touch. Every node's access table
// is read from that column, so it is the value to show.
import type { PreviewView } from "../types.ts";
import type { AccessService, PreviewService } from "./service.ts";

export function withVisibility(previews: PreviewService, access: AccessService): PreviewService {
  const fix = (v: PreviewView): PreviewView => {
    const known = access.visibilityOf(v.id);
    if (known) v.visibility = known;
    return v;
  };
  return {
    create: async (spec, opts) => fix(await previews.create(spec, opts)),
    list: async () => (await previews.list()).map(fix),
    get: async (id) => fix(await previews.get(id)),
    updateFiles: async (id, files, remove) => fix(await previews.updateFiles(id, files, remove)),
    logs: (id, opts) => previews.logs(id, opts),
    suspend: async (id) => fix(await previews.suspend(id)),
    resume: async (id) => fix(await previews.resume(id)),
    delete: (id) => previews.delete(id),
    exportDatabase: (id) => previews.exportDatabase(id),
  };
}
