// The host page of hook.test.ts, bundled for the browser by the test (once
// with React 19, once with React 18). It is what a host app does:
// - the browser never sees the API token: `create` asks the host app's own
//   server (/host/previews), which creates the preview with the API token
//   and returns it with a token scoped to that preview;
// - the hook then talks to the daemon directly with the scoped token (CORS);
// - `remove` goes through the host server too (scoped tokens may not delete).
// Rendered inside <StrictMode> so development double effects are exercised.
// No JSX: the repo's tsconfig has no JSX setting, and createElement is enough.
import { createElement as h, StrictMode, useEffect, useMemo, useState, version } from "react";
import { createRoot } from "react-dom/client";
import { createClient, type CreatePreviewBody, type Preview } from "../../sdk/src/index.ts";
import { usePreviewOrchestrator } from "../../sdk/src/react.ts";
import { messageApp } from "./app.ts";

interface Run {
  statuses: string[];
  effectRuns: number;
}
interface Probe {
  react: string;
  runs: Run[];
}
// The DOM globals this page touches; typed here because the repo's tsconfig has no DOM lib.
interface PageGlobals {
  __PREVIEWD_API__: string;
  __probe: Probe;
  document: { getElementById(id: string): object | null };
}
const g = globalThis as unknown as PageGlobals;
const probe: Probe = (g.__probe = { react: version, runs: [] });

// No token: the scoped token comes with the created preview (create() below).
const client = createClient({ baseUrl: g.__PREVIEWD_API__ });

async function create(body: CreatePreviewBody): Promise<{ preview: Preview; token: string }> {
  const res = await fetch("/host/previews", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
  if (!res.ok) throw new Error(`host app: ${res.status} ${await res.text()}`);
  return res.json() as Promise<{ preview: Preview; token: string }>;
}

async function remove(preview: Preview): Promise<void> {
  const res = await fetch(`/host/previews/${preview.id}`, { method: "DELETE" });
  if (!res.ok) throw new Error(`host app: ${res.status} ${await res.text()}`);
}

function PreviewPanel({ run }: { run: Run }) {
  const [message, setMessage] = useState("hello v1");
  const files = useMemo(() => messageApp(message), [message]);
  const o = usePreviewOrchestrator({ client, files, create, remove, debounceMs: 300 });

  useEffect(() => {
    run.effectRuns++; // 2 under StrictMode in development: the double effect really happened
  }, []);
  useEffect(() => {
    if (run.statuses.at(-1) !== o.status) run.statuses.push(o.status);
  }, [o.status]);

  return h(
    "div",
    null,
    h("p", { id: "status" }, o.status),
    h("p", { id: "phase" }, o.phase ?? ""),
    h("p", { id: "url" }, o.url ?? ""),
    h("p", { id: "revision" }, String(o.revision)),
    h("p", { id: "error" }, o.error?.message ?? ""),
    h("button", { id: "edit-prop", onClick: () => setMessage("hello v2 from props") }, "edit via props"),
    h("button", { id: "edit-update", onClick: () => o.update({ "message.txt": "hello v3 from update" }) }, "edit via update"),
    h("button", { id: "edit-late", onClick: () => o.update({ "message.txt": "never sent" }) }, "edit, then unmount at once"),
    h("button", { id: "destroy", onClick: () => void o.destroy().catch(() => {}) }, "destroy"),
    // Keyed on revision: the iframe reloads after each update the daemon applied.
    o.url && o.status === "running" ? h("iframe", { id: "preview", key: o.revision, src: o.url, width: 600, height: 200 }) : null,
  );
}

function Root() {
  const [shown, setShown] = useState(true);
  const [generation, setGeneration] = useState(0);
  return h(
    "div",
    null,
    h("button", { id: "unmount", onClick: () => setShown(false) }, "unmount"),
    h("button", { id: "remount", onClick: () => (setGeneration((n) => n + 1), setShown(true)) }, "mount a new one"),
    shown ? h(PreviewPanel, { key: generation, run: (probe.runs[generation] ??= { statuses: [], effectRuns: 0 }) }) : null,
  );
}

createRoot(g.document.getElementById("root") as Parameters<typeof createRoot>[0]).render(h(StrictMode, null, h(Root)));
