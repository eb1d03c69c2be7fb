// A file change of a preview on this node, in its queue: the files are
// written to the store and the container (woken first: a paused container
// takes no archive), and the running app's own watcher reloads them. A change
// of package.json, a lockfile or a package manager's config installs the new
// set (cache first) and restarts the app in place.
import { INSTALL_INPUTS, type Prepared } from "../deps/index.ts";
import { conflict, notFound } from "../errors.ts";
import type { FileMap, PreviewView } from "../types.ts";
import type { Live } from "./live.ts";
import type { NodeParts } from "./parts.ts";

/** Files whose change means the dependencies must be installed again, or the app run on another Node.js line. */
const DEPENDENCY_FILES = new Set([...INSTALL_INPUTS, ".nvmrc", ".node-version"]);

export function updateFilesHere(p: NodeParts, id: string, files: FileMap, remove: string[], prepare: (files: FileMap) => Prepared, view: (l: Live) => PreviewView): Promise<PreviewView> {
  const l = p.live.need(id);
  return p.lifecycle.queue(id, async () => {
    if (!p.live.has(id)) throw notFound("preview", id); // deleted while this waited its turn
    if (!l.container || l.record.status === "failed") throw conflict(`Preview ${id} is ${l.record.status}; its files cannot change in place.`);
    if (l.record.status === "installing") throw conflict(`Preview ${id} is installing its dependencies; change its files once it runs.`);
    // Before the store changes: a refused change leaves the stored files and the container's as they were
    // (a full disk; a package.json that cannot be installed or a Node.js version nothing offers: a 400).
    if (Object.keys(files).length) p.disk.check();
    const changesDeps = [...Object.keys(files), ...remove].some((f) => DEPENDENCY_FILES.has(f));
    const after = changesDeps ? applyChange(await p.store.files(id), files, remove) : undefined;
    const prepared = after && { ...prepare(after), memoryMb: p.bringUp.memoryFor(after) };
    await p.sleep.wakeNow(l);
    await p.store.putFiles(id, files, remove);
    await p.runtime.putFiles(l.container.containerId, files);
    await p.runtime.deleteFiles(l.container.containerId, remove);
    p.idle.touch(id);
    if (prepared) await reinstall(p, l, prepared);
    return view(l);
  });
}

/** The files as the store will hold them after the change (deletes are of exact paths, as the store's). */
function applyChange(stored: FileMap, files: FileMap, remove: string[]): FileMap {
  const next: FileMap = {};
  for (const [path, content] of Object.entries(stored)) {
    if (!remove.includes(path)) next[path] = content;
  }
  return { ...next, ...files };
}

/** Dependencies or the Node.js line changed: the new set (cache first), and the app restarted in place. */
async function reinstall(p: NodeParts, l: Live, { runtime, plan, memoryMb }: Prepared & { memoryMb?: number }): Promise<void> {
  if (plan?.key === l.record.spec.deps?.key && runtime?.node === l.record.spec.runtime?.node && memoryMb === l.record.spec.memoryMb) {
    if (runtime && runtime.source !== l.record.spec.runtime?.source) {
      l.record.spec.runtime = runtime;
      await p.store.update(l.record.id, { spec: l.record.spec });
    }
    return;
  }
  l.record.spec.deps = plan && { key: plan.key, manager: plan.manager };
  l.record.spec.runtime = runtime;
  // A package.json that now asks for a large dev server (next, Angular) gets its memory class, or loses it.
  l.record.spec.memoryMb = memoryMb;
  await p.store.update(l.record.id, { spec: l.record.spec });
  l.ready = p.bringUp.start(l, plan, true);
  // The status the caller sees: installing (cache miss) or starting, set before the answer.
  await Promise.race([l.ready, Bun.sleep(0)]);
}
