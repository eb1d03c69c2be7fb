// The builder's page: a file list, a CodeMirror editor, the preview in an
// iframe and a Deploy button, all on usePreviewOrchestrator.
// - The SDK talks to this app's own server (/previewd), which adds the API
//   token; the page holds no token at all.
// - The preview is private: the iframe opens a share link, whose cookie is
//   Partitioned, so it works on another site than this page with third-party
//   cookies blocked. Saving PATCHes the file; Vite's HMR in the preview
//   updates the iframe, which is never reloaded by this page.
import { javascript } from "@codemirror/lang-javascript";
import { EditorState } from "@codemirror/state";
import { basicSetup, EditorView } from "codemirror";
import { StrictMode, useEffect, useRef, useState } from "react";
import { createRoot } from "react-dom/client";
import { createClient, type CreatePreviewBody, type Preview } from "../../sdk/src/index.ts";
import { usePreviewOrchestrator } from "../../sdk/src/react.ts";

type Files = Record<string, string>;

const client = createClient({ baseUrl: "/previewd" });

async function post<T>(path: string, body?: unknown): Promise<T> {
  const res = await fetch(path, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body ?? {}) });
  const json = await res.json();
  if (!res.ok) throw new Error(json?.error?.message ?? `${path}: ${res.status}`);
  return json as T;
}

// Creating goes through the server (it holds the token and makes the preview private).
const create = async (body: CreatePreviewBody) => (await post<{ preview: Preview }>("/api/previews", { files: body.files })).preview;

function Editor({ path, text, onChange }: { path: string; text: string; onChange: (text: string) => void }) {
  const host = useRef<HTMLDivElement>(null);
  const view = useRef<EditorView | null>(null);
  const change = useRef(onChange);
  change.current = onChange;
  useEffect(() => {
    view.current = new EditorView({ parent: host.current! });
    return () => view.current?.destroy();
  }, []);
  // A new state per file: its own undo history; JS/JSX highlighted, other files plain.
  useEffect(() => {
    const lang = /\.(m?[jt]sx?)$/.test(path) ? [javascript({ jsx: true, typescript: /\.tsx?$/.test(path) })] : [];
    const listener = EditorView.updateListener.of((u) => u.docChanged && change.current(u.state.doc.toString()));
    view.current!.setState(EditorState.create({ doc: text, extensions: [basicSetup, ...lang, listener] }));
  }, [path]); // eslint-disable-line react-hooks/exhaustive-deps -- the text is the editor's own while a file is open
  return <div ref={host} id="editor" data-path={path} />;
}

function Builder({ starter }: { starter: Files }) {
  const [files, setFiles] = useState<Files>(starter); // what the preview has (saved)
  const [drafts, setDrafts] = useState<Files>({}); // edited, not saved yet
  const [open, setOpen] = useState(Object.keys(starter).includes("src/App.jsx") ? "src/App.jsx" : Object.keys(starter)[0]!);
  const [share, setShare] = useState<string | null>(null);
  const o = usePreviewOrchestrator({ client, files, create, debounceMs: 150 });
  const id = o.preview?.id;

  // Once the app serves, ask the server for a share link: the iframe opens it (cookie set, token dropped from the URL).
  useEffect(() => {
    if (!id || share || o.status !== "running") return;
    post<{ share: { url: string } }>(`/api/previews/${id}/share`).then((r) => setShare(r.share.url), (e: Error) => console.error(e));
  }, [id, share, o.status]);

  const save = () => {
    if (!(open in drafts)) return;
    setFiles((f) => ({ ...f, [open]: drafts[open]! })); // the hook PATCHes the difference
    setDrafts(({ [open]: _, ...rest }) => rest);
  };
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if ((e.ctrlKey || e.metaKey) && e.key === "s") (e.preventDefault(), save());
    };
    addEventListener("keydown", onKey);
    return () => removeEventListener("keydown", onKey);
  });

  const dep = o.deployment;
  return (
    <div>
      <nav aria-label="files">
        {Object.keys(files).map((p) => (
          <button key={p} data-path={p} aria-current={p === open} onClick={() => setOpen(p)}>
            {p}
            {p in drafts ? " •" : ""}
          </button>
        ))}
      </nav>
      <section>
        <p>
          <button id="save" onClick={save} disabled={!(open in drafts)}>Save</button> <span id="saved">{o.pending ? "saving…" : `saved (${o.revision} updates)`}</span>
        </p>
        <Editor path={open} text={drafts[open] ?? files[open] ?? ""} onChange={(t) => setDrafts((d) => ({ ...d, [open]: t }))} />
      </section>
      <section>
        <p>
          Preview <code id="preview-id">{id ?? ""}</code>: <b id="status">{o.status}</b> <span id="phase">{o.phase ?? ""}</span>
        </p>
        <p id="error" role="alert">{o.error?.message ?? ""}</p>
        {share ? <iframe id="preview" title="preview" src={share} /> : <p>The preview appears here once it runs.</p>}
        <p>
          <button id="deploy" disabled={o.status !== "running" || (dep !== null && !["live", "failed", "removed"].includes(dep.status))} onClick={() => void o.deploy({ projectName: `builder-${id}` }).catch(() => {})}>
            Deploy to Railway
          </button>{" "}
          <b id="deploy-status">{dep?.status ?? ""}</b>
        </p>
        <ol id="steps">
          {dep?.steps.map((s, i) => (
            <li key={i}>
              {s.name} {s.endedAt ? "✓" : "…"} {s.detail ?? ""}
            </li>
          ))}
        </ol>
        {dep?.url && /^https?:\/\//.test(dep.url) ? ( // a link, never a javascript: URL
          <p>
            Live at <a id="deploy-url" href={dep.url} target="_blank" rel="noreferrer">{dep.url}</a>
          </p>
        ) : null}
        {dep?.error ? <p id="deploy-error">{dep.error.step}: {dep.error.message}</p> : null}
      </section>
    </div>
  );
}

function App() {
  const [starter, setStarter] = useState<Files | null>(null);
  const [error, setError] = useState("");
  useEffect(() => {
    fetch("/api/starter").then((r) => r.json()).then((j: { files: Files }) => setStarter(j.files), (e: Error) => setError(e.message));
  }, []);
  return starter ? <Builder starter={starter} /> : <p role="alert">{error || "loading the template…"}</p>;
}

createRoot(document.getElementById("root")!).render(
  <StrictMode>
    <App />
  </StrictMode>,
);
