// The launcher page's own logic, in Bun, with no browser: the state machine
// driven by StandInWebContainer (a stand-in written here, NOT the real
// runtime: these tests prove the launcher's states and fallbacks, never that
// WebContainers work; see test/live/webcontainer.live.ts for that), the
// flat-map <-> FileSystemTree conversion, and the live file sync.
import { describe, expect, test } from "bun:test";
import type { BootOptions } from "@webcontainer/api";
import { loadConfig } from "../../src/config.ts";
import { runLauncher, type Files, type LauncherDeps, type LauncherState, type RuntimeLike } from "../../src/browser/launcher-client/machine.ts";
import { FileSync } from "../../src/browser/launcher-client/sync.ts";
import { decodeTree, diffFiles, flattenTree, toWireTree } from "../../src/browser/launcher-client/tree.ts";

const VITE_PKG = JSON.stringify({ name: "a", scripts: { dev: "vite", build: "vite build" } });

/** A stand-in for a booted WebContainer: records calls, plays scripted processes. Not the real runtime. */
class StandInWebContainer {
  calls: string[] = [];
  mounted?: unknown;
  written = new Map<string, string | Uint8Array>();
  private listeners = new Map<string, ((...a: unknown[]) => void)[]>();
  constructor(private readonly script: { installExit?: number; installOutput?: string; devServes?: string; devExit?: number } = {}) {}

  emit(event: string, ...args: unknown[]) {
    for (const fn of this.listeners.get(event) ?? []) fn(...args);
  }
  on(event: string, fn: (...a: unknown[]) => void) {
    this.listeners.set(event, [...(this.listeners.get(event) ?? []), fn]);
    return () => {};
  }
  async mount(tree: unknown) {
    this.calls.push("mount");
    this.mounted = tree;
  }
  async spawn(cmd: string, args: string[]) {
    this.calls.push([cmd, ...args].join(" "));
    const install = args[0] === "install";
    const text = install ? (this.script.installOutput ?? "added 3 packages") : "VITE ready";
    const output = new ReadableStream<string>({ start: (c) => (c.enqueue(text), c.close()) });
    if (install) return { output, exit: Promise.resolve(this.script.installExit ?? 0) };
    if (this.script.devServes) setTimeout(() => this.emit("server-ready", 5173, this.script.devServes), 5);
    return { output, exit: this.script.devExit === undefined ? new Promise<number>(() => {}) : Promise.resolve(this.script.devExit) };
  }
  fs = {
    writeFile: async (p: string, c: string | Uint8Array) => void this.written.set(p, c),
    mkdir: async (p: string) => void this.calls.push(`mkdir ${p}`),
    rm: async (p: string) => void this.calls.push(`rm ${p}`),
  };
}

function deps(over: Partial<LauncherDeps> & { wc?: StandInWebContainer; pkg?: string | null } = {}) {
  const states: LauncherState[] = [];
  const details: string[] = [];
  const seen = { apps: [] as string[], keyedBeforeBoot: false, bootOptions: undefined as BootOptions | undefined, booted: false, key: "" };
  const files = toWireTree({ ...(over.pkg === null ? {} : { "package.json": over.pkg ?? VITE_PKG }), "src/main.jsx": "x", "img.png": { base64: "iVBO" } });
  const d: LauncherDeps = {
    isolated: true,
    config: { coep: "credentialless", bootTimeoutMs: 1000 },
    configureAPIKey: (k) => {
      seen.key = k;
      seen.keyedBeforeBoot = !seen.booted;
    },
    boot: async (o) => {
      seen.booted = true;
      seen.bootOptions = o;
      return (over.wc ?? new StandInWebContainer({ devServes: "https://x--5173.local-credentialless.webcontainer-api.io" })) as unknown as RuntimeLike;
    },
    loadFiles: async (): Promise<Files> => ({ tree: files, digest: "d1" }),
    show: (s, detail) => {
      states.push(s);
      if (detail) details.push(detail);
    },
    showApp: (url) => void seen.apps.push(url),
    ...over,
  };
  return { d, states, details, seen };
}

describe("the launcher's state machine, driven by StandInWebContainer (not the real runtime)", () => {
  test("server-ready: boot with the COEP setting, mount, npm install, npm run dev, then the app's URL is shown", async () => {
    const wc = new StandInWebContainer({ devServes: "https://abc--5173.local-credentialless.webcontainer-api.io" });
    const { d, states, seen } = deps({ wc });
    expect(await runLauncher(d)).toBe("running");
    expect(states).toEqual(["checking", "booting", "mounting", "installing", "starting", "running"]);
    expect(seen.bootOptions).toEqual({ coep: "credentialless" });
    expect(wc.calls).toEqual(["mount", "npm install", "npm run dev"]);
    expect(seen.apps).toEqual(["https://abc--5173.local-credentialless.webcontainer-api.io"]);
    // A binary file is mounted as bytes.
    expect((wc.mounted as Record<string, { file: { contents: unknown } }>)["img.png"]!.file.contents).toBeInstanceOf(Uint8Array);
  });

  test("no dev script: start is run; neither: no-dev-script without booting", async () => {
    const wc = new StandInWebContainer({ devServes: "https://y" });
    expect(await runLauncher(deps({ wc, pkg: JSON.stringify({ scripts: { start: "node server.js" } }) }).d)).toBe("running");
    expect(wc.calls.at(-1)).toBe("npm run start");
    const none = deps({ pkg: null });
    expect(await runLauncher(none.d)).toBe("no-dev-script");
    expect(none.seen.booted).toBe(false);
  });

  test("not isolated: not-isolated, and no boot", async () => {
    const { d, states, seen } = deps({ isolated: false });
    expect(await runLauncher(d)).toBe("not-isolated");
    expect(states).toEqual(["checking", "not-isolated"]);
    expect(seen.booted).toBe(false);
  });

  test("boot that never answers (as offline): runtime-unreachable after the timeout", async () => {
    const { d, details } = deps({ config: { coep: "require-corp", bootTimeoutMs: 50 }, boot: () => new Promise<RuntimeLike>(() => {}) });
    const t0 = Date.now();
    expect(await runLauncher(d)).toBe("runtime-unreachable");
    expect(Date.now() - t0).toBeGreaterThanOrEqual(45);
    expect(details[0]).toContain("did not answer within 0.05 s");
  });

  test("the API key is configured before boot", async () => {
    const { d, seen } = deps({ config: { coep: "credentialless", bootTimeoutMs: 1000, apiKey: "wc_api_key" } });
    await runLauncher(d);
    expect(seen).toMatchObject({ key: "wc_api_key", keyedBeforeBoot: true });
  });

  test("npm install exits non-zero: install-failed with its output", async () => {
    const { d, details } = deps({ wc: new StandInWebContainer({ installExit: 1, installOutput: "npm ERR! 404 not-a-package" }) });
    expect(await runLauncher(d)).toBe("install-failed");
    expect(details[0]).toContain("exited with code 1");
    expect(details[0]).toContain("npm ERR! 404 not-a-package");
  });

  test("the runtime's error event, a dev server that exits, a boot that throws: error", async () => {
    const wc = new StandInWebContainer();
    const errored = deps({ wc });
    const run = runLauncher(errored.d);
    await Bun.sleep(20);
    wc.emit("error", { message: "Unable to create more instances" });
    expect(await run).toBe("error");
    expect(errored.details).toEqual(["Unable to create more instances"]);

    const exits = deps({ wc: new StandInWebContainer({ devExit: 2 }) });
    expect(await runLauncher(exits.d)).toBe("error");
    expect(exits.details[0]).toContain("npm run dev exited with code 2");

    expect(await runLauncher(deps({ boot: async () => Promise.reject(new Error("Only a single WebContainer instance can be booted")) }).d)).toBe("error");
  });
});

describe("files: flat map <-> FileSystemTree, and the live sync (StandInWebContainer's fs)", () => {
  test("a flat map becomes a nested tree and back", () => {
    const flat = { "package.json": "{}", "src/App.jsx": "a", "src/deep/x.css": "b", "logo.png": { base64: "AAEC" } };
    const tree = toWireTree(flat);
    expect(tree).toEqual({
      "logo.png": { file: { contents: "AAEC", encoding: "base64" } },
      "package.json": { file: { contents: "{}" } },
      src: { directory: { "App.jsx": { file: { contents: "a" } }, deep: { directory: { "x.css": { file: { contents: "b" } } } } } },
    });
    expect(flattenTree(tree)).toEqual(flat);
    expect(decodeTree(tree)["logo.png"]).toEqual({ file: { contents: new Uint8Array([0, 1, 2]) } });
    expect(diffFiles(flat, { ...flat, "src/App.jsx": "changed", "new.txt": "n" })).toEqual({ write: { "src/App.jsx": "changed", "new.txt": "n" }, remove: [] });
    const { "src/deep/x.css": _gone, ...rest } = flat;
    expect(diffFiles(flat, rest)).toEqual({ write: {}, remove: ["src/deep/x.css"] });
  });

  test("a change from the digest held is written with fs.writeFile/rm; one from another digest makes a full resync", async () => {
    const wc = new StandInWebContainer();
    let server: Files = { tree: toWireTree({ "a.txt": "1", "b/c.txt": "2" }), digest: "v1" };
    const sync = new FileSync(wc.fs as unknown as RuntimeLike["fs"], server, async () => server);
    await sync.hello("v1");
    expect(wc.written.size).toBe(0);
    await sync.change({ from: "v1", digest: "v2", write: { "b/new/d.txt": "3" }, remove: ["a.txt"] });
    expect(wc.calls).toEqual(["rm a.txt", "mkdir b/new"]);
    expect(wc.written.get("b/new/d.txt")).toBe("3");
    // A reconnect missed v3: the server is at v4, so the page diffs against the full list.
    server = { tree: toWireTree({ "b/c.txt": "2 changed", "b/new/d.txt": "3", "e.txt": "5" }), digest: "v4" };
    await sync.change({ from: "v3", digest: "v4", write: { "e.txt": "5" }, remove: [] });
    expect(wc.written.get("b/c.txt")).toBe("2 changed");
    expect(wc.written.get("e.txt")).toBe("5");
    wc.written.clear();
    await sync.hello("v4");
    expect(wc.written.size).toBe(0);
  });
});

test("settings: the static runtime by default; webcontainer, COEP, boot timeout, key and origin when set", () => {
  const base = { PREVIEWD_API_TOKEN: "x".repeat(16) };
  expect(loadConfig(base)).toMatchObject({ browserRuntime: "static", browserCoep: "credentialless", webcontainerBootTimeout: 30, webcontainerApiKey: "", webcontainerOrigin: "" });
  expect(loadConfig({ ...base, PREVIEWD_BROWSER_RUNTIME: "webcontainer", PREVIEWD_BROWSER_COEP: "require-corp", PREVIEWD_WEBCONTAINER_BOOT_TIMEOUT: "2", PREVIEWD_WEBCONTAINER_ORIGIN: "https://stackblitz.example.com" })).toMatchObject({
    browserRuntime: "webcontainer",
    browserCoep: "require-corp",
    webcontainerBootTimeout: 2,
    webcontainerOrigin: "https://stackblitz.example.com",
  });
  expect(() => loadConfig({ ...base, PREVIEWD_BROWSER_RUNTIME: "wasm" })).toThrow("PREVIEWD_BROWSER_RUNTIME");
  expect(() => loadConfig({ ...base, PREVIEWD_BROWSER_COEP: "none" })).toThrow("PREVIEWD_BROWSER_COEP");
  expect(() => loadConfig({ ...base, PREVIEWD_WEBCONTAINER_ORIGIN: "http://insecure.example.com" })).toThrow("PREVIEWD_WEBCONTAINER_ORIGIN");
});
