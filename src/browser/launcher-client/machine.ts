// The launcher's state machine, written against the real @webcontainer/api
// types but given its runtime from outside: the page passes the real
// WebContainer.boot, and a unit test may pass a stand-in to drive the states
// (that proves this file's logic, never that WebContainers work).
//
// Order: isolated? → files (no dev/start script: nothing to run) → API key →
// boot raced against the timeout → mount → npm install → npm run dev|start →
// server-ready. Every failure is final: the page shows why and falls back
// to the static build.
import type { BootOptions, WebContainer, WebContainerProcess } from "@webcontainer/api";
import { decodeTree, flattenTree, type WireContent, type WireTree } from "./tree.ts";

export type LauncherState =
  | "checking" | "booting" | "mounting" | "installing" | "starting" | "running"
  | "not-isolated" | "no-dev-script" | "runtime-unreachable" | "install-failed" | "error";

export const FAILED_STATES: ReadonlySet<LauncherState> = new Set(["not-isolated", "no-dev-script", "runtime-unreachable", "install-failed", "error"]);

/** What the daemon puts in the page (src/browser/launcher.ts). */
export interface LauncherConfig {
  coep: "credentialless" | "require-corp";
  bootTimeoutMs: number;
  apiKey?: string;
  /** StackBlitz Enterprise: WEBCONTAINER_API_IFRAME_URL. */
  origin?: string;
}

/** The part of a WebContainer the launcher uses (the real class satisfies it). */
export type RuntimeLike = Pick<WebContainer, "mount" | "spawn" | "on" | "fs">;

export interface Files {
  tree: WireTree;
  digest: string;
}

export interface LauncherDeps {
  isolated: boolean;
  config: LauncherConfig;
  configureAPIKey(key: string): void;
  boot(options: BootOptions): Promise<RuntimeLike>;
  loadFiles(): Promise<Files>;
  /** Every state change, with a detail for failures (output, message). */
  show(state: LauncherState, detail?: string): void;
  /** server-ready: show the app full-page. */
  showApp(url: string): void;
  /** Mounted: keep the files in step with PATCHes from here on. */
  mounted?(wc: RuntimeLike, files: Files): void;
}

const OUTPUT_TAIL = 8000;

/** Runs to `running` or to a failed state; never rejects. Resolves with the state it stopped in. */
export function runLauncher(d: LauncherDeps): Promise<LauncherState> {
  return new Promise<LauncherState>((resolve) => {
    let over = false;
    const show = (s: LauncherState, detail?: string) => {
      if (over) return;
      d.show(s, detail);
      if (s === "running" || FAILED_STATES.has(s)) {
        over = true;
        resolve(s);
      }
    };
    flow(d, show).catch((err: unknown) => show("error", err instanceof Error ? err.message : String(err)));
  });
}

async function flow(d: LauncherDeps, show: (s: LauncherState, detail?: string) => void): Promise<void> {
  show("checking");
  if (!d.isolated) {
    return show("not-isolated", "This page is not cross-origin isolated, so WebContainers cannot run here (it is probably inside an iframe of a page without COOP/COEP headers). Open it in a new tab.");
  }
  const files = await d.loadFiles();
  const script = devScript(flattenTree(files.tree)["package.json"]);
  if (!script) return show("no-dev-script", "package.json has no dev or start script, so there is no server to run.");
  if (d.config.apiKey) d.configureAPIKey(d.config.apiKey);

  show("booting");
  const secs = d.config.bootTimeoutMs / 1000;
  const wc = await Promise.race([d.boot({ coep: d.config.coep }), sleep(d.config.bootTimeoutMs).then(() => undefined)]);
  // boot() has no timeout and no error path of its own: offline it waits forever.
  if (!wc) return show("runtime-unreachable", `The WebContainer runtime (${d.config.origin ?? "https://stackblitz.com"}) did not answer within ${secs} s. It needs internet access.`);
  wc.on("error", (e) => show("error", e.message));
  wc.on("server-ready", (_port, url) => {
    show("running");
    d.showApp(url);
  });

  show("mounting");
  await wc.mount(decodeTree(files.tree));
  d.mounted?.(wc, files);

  show("installing");
  const install = await wc.spawn("npm", ["install"]);
  const installOut = tail(install);
  const code = await install.exit;
  if (code !== 0) return show("install-failed", `npm install exited with code ${code}\n${await installOut()}`);

  show("starting");
  const dev = await wc.spawn("npm", ["run", script]);
  const devOut = tail(dev);
  // A dev server that exits before server-ready will never show the app.
  const exit = await dev.exit;
  show("error", `npm run ${script} exited with code ${exit} before its server was ready\n${await devOut()}`);
}

/** The script that serves the app: `dev`, else `start`. */
export function devScript(pkg: WireContent | undefined): "dev" | "start" | undefined {
  if (typeof pkg !== "string") return undefined;
  try {
    const scripts = (JSON.parse(pkg) as { scripts?: Record<string, unknown> }).scripts ?? {};
    if (typeof scripts.dev === "string") return "dev";
    if (typeof scripts.start === "string") return "start";
  } catch {
    // An unparsable package.json: nothing to run.
  }
  return undefined;
}

/** Keeps the last few KB of a process's output; the returned function reads them. */
function tail(p: WebContainerProcess): () => Promise<string> {
  let text = "";
  const done = p.output
    .pipeTo(new WritableStream({ write: (chunk) => void (text = (text + chunk).slice(-OUTPUT_TAIL)) }))
    .catch(() => {});
  // The stream may stay open after exit (the runtime owns it): wait briefly, not forever.
  return async () => {
    await Promise.race([done, sleep(200)]);
    return text;
  };
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
