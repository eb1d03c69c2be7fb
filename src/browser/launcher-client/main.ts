// The launcher page's script (bundled with the real @webcontainer/api into
// /__previewd/launcher.js by build.ts). It wires the state machine to the
// real runtime and to the page: each state is shown (and set as
// <html data-state>, which tests and users can read), a failure shows its
// reason and, unless the URL says ?fallback=0, replaces the page with the
// static build (?runtime=static) after a short pause, so the URL always ends
// up showing the app.
import { WebContainer, configureAPIKey } from "@webcontainer/api";
import { FAILED_STATES, runLauncher, type Files, type LauncherConfig, type LauncherState } from "./machine.ts";
import { FileSync, type Change } from "./sync.ts";
import type { WireTree } from "./tree.ts";

// The DOM this page touches, typed here: the repo's tsconfig has no DOM lib (Bun's types only).
interface El {
  id: string;
  textContent: string | null;
  hidden: boolean;
  dataset: Record<string, string | undefined>;
  setAttribute(name: string, value: string): void;
  append(...nodes: (El | string)[]): void;
  replaceChildren(...nodes: (El | string)[]): void;
}
interface PageGlobals {
  document: { getElementById(id: string): El | null; createElement(tag: string): El; body: El; documentElement: El };
  location: { href: string; replace(url: string): void };
  crossOriginIsolated: boolean;
  navigator: { sendBeacon(url: string, data: string): boolean };
  EventSource: new (url: string) => { addEventListener(type: string, fn: (e: { data: string }) => void): void };
  WEBCONTAINER_API_IFRAME_URL?: string;
}
const g = globalThis as unknown as PageGlobals;
const doc = g.document;

const config = JSON.parse(doc.getElementById("previewd-launcher-config")!.textContent!) as LauncherConfig & { fallbackDelayMs: number };
const here = new URL(g.location.href);
const fallbackOn = here.searchParams.get("fallback") !== "0";
// Read lazily by @webcontainer/api when boot builds its iframe URL.
if (config.origin) g.WEBCONTAINER_API_IFRAME_URL = config.origin;

const LABELS: Record<LauncherState, string> = {
  checking: "Checking this browser…",
  booting: "Starting the WebContainer runtime…",
  mounting: "Copying the app's files…",
  installing: "Installing dependencies (npm install)…",
  starting: "Starting the dev server…",
  running: "Running",
  "not-isolated": "not-isolated: WebContainers cannot run in this frame",
  "no-dev-script": "no-dev-script: nothing to run in a WebContainer",
  "runtime-unreachable": "runtime-unreachable: the WebContainer runtime did not answer",
  "install-failed": "install-failed: npm install failed",
  error: "error: the WebContainer failed",
};

function staticUrl(): string {
  const u = new URL(here);
  u.searchParams.delete("fallback");
  u.searchParams.set("runtime", "static");
  return u.toString();
}

function link(text: string, href: string, id: string, newTab = false): El {
  const a = doc.createElement("a");
  a.id = id;
  a.textContent = text;
  a.setAttribute("href", href);
  if (newTab) {
    a.setAttribute("target", "_blank");
    a.setAttribute("rel", "noopener");
  }
  return a;
}

function show(state: LauncherState, detail?: string): void {
  const root = doc.documentElement;
  root.dataset.state = state;
  root.dataset.states = root.dataset.states ? `${root.dataset.states} ${state}` : state;
  doc.getElementById("state")!.textContent = LABELS[state];
  doc.getElementById("detail")!.textContent = detail ?? "";
  if (state !== "running" && !FAILED_STATES.has(state)) return;
  // For the daemon's logs only.
  g.navigator.sendBeacon("/__previewd/report", JSON.stringify({ state, detail: detail?.slice(-2000) }));
  if (state === "running") return;
  const actions = doc.getElementById("actions")!;
  actions.replaceChildren();
  if (state === "not-isolated") actions.append(link("Open in a new tab", here.toString(), "open-tab", true), " ");
  actions.append(link("Show the static build", staticUrl(), "static-link"));
  if (fallbackOn) {
    actions.append(` (shown in ${config.fallbackDelayMs / 1000} s)`);
    setTimeout(() => g.location.replace(staticUrl()), config.fallbackDelayMs);
  }
}

function showApp(url: string): void {
  // Keep the path the visitor asked for (/users/7), without the launcher's own parameters.
  const path = new URL(here);
  path.searchParams.delete("fallback");
  const f = doc.createElement("iframe");
  f.id = "app";
  f.setAttribute("src", new URL(path.pathname + path.search, url).toString());
  f.setAttribute("allow", "cross-origin-isolated");
  doc.getElementById("status")!.hidden = true;
  doc.body.append(f);
}

async function loadFiles(): Promise<Files> {
  const res = await fetch("/__previewd/files", { cache: "no-store" });
  if (!res.ok) throw new Error(`/__previewd/files answered ${res.status}`);
  return { tree: (await res.json()) as WireTree, digest: res.headers.get("x-previewd-digest") ?? "" };
}

function follow(sync: FileSync): void {
  const es = new g.EventSource("/__previewd/events");
  const report = (err: unknown) => console.warn("previewd: could not apply a file change", err);
  es.addEventListener("hello", (e) => void sync.hello((JSON.parse(e.data) as { digest: string }).digest).catch(report));
  es.addEventListener("change", (e) => void sync.change(JSON.parse(e.data) as Change).catch(report));
}

void runLauncher({
  isolated: g.crossOriginIsolated === true,
  config,
  configureAPIKey,
  boot: (options) => WebContainer.boot(options),
  loadFiles,
  show,
  showApp,
  mounted: (wc, files) => follow(new FileSync(wc.fs, files, loadFiles)),
});
