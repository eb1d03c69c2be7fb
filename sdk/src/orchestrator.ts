// The state machine behind usePreviewOrchestrator, kept free of React so its
// rules read in one place:
//
// - Creating happens once per instance: the in-flight create is a promise on
//   the instance, and attach()/detach() (React's effect and cleanup) never
//   touch it. StrictMode's simulated unmount + remount therefore joins the same
//   create instead of starting a second one.
// - Everything that talks to the daemon after creation (the watch, debounced
//   PATCHes, deploy progress) hangs off the current attachment's
//   AbortController, so detach() on a real unmount leaves no request, stream
//   or timer behind.
// - Files: `sent` is what the daemon has, `desired` what the host wants; a
//   flush PATCHes the difference (changed paths, deleted paths), one PATCH at
//   a time, so edits coalesce into few requests and never race each other.
import type { PreviewdClient } from "./client.js";
import { PreviewdError } from "./errors.js";
import type { CreatePreviewBody, Deployment, DeployOptions, FileContent, Files, Preview, PreviewStatus } from "./types.js";

export type OrchestratorStatus = "idle" | "creating" | PreviewStatus;

/** What a host app's `create` returns: the preview, and optionally a token scoped to it for the browser. */
export type CreateResult = Preview | { preview: Preview; token?: string };

export interface OrchestratorOptions {
  /** Talks to the daemon (or the host app's proxy of it). With a `create` that returns a token, the hook uses `client.withToken(token)`. */
  client: PreviewdClient;
  files: Files;
  database?: CreatePreviewBody["database"];
  tier?: CreatePreviewBody["tier"];
  command?: string[];
  port?: number;
  env?: Record<string, string>;
  /** Quiet time before file changes are sent (ms). */
  debounceMs?: number;
  /** Create on mount (default); false: call `create()` yourself. */
  autoCreate?: boolean;
  /** Creates the preview instead of `client.previews.create`: typically a host app's server route (see README). */
  create?: (body: CreatePreviewBody) => Promise<CreateResult>;
  /** Deletes the preview instead of `client.previews.remove` (a scoped token may not delete). */
  remove?: (preview: Preview) => Promise<void>;
}

export interface OrchestratorState {
  preview: Preview | null;
  url: string | null;
  status: OrchestratorStatus;
  phase: string | null;
  error: Error | null;
  deployment: Deployment | null;
  /** Changes not yet applied by the daemon (waiting for the debounce or in flight). */
  pending: boolean;
  /** How many file updates the daemon has applied; key an iframe on it to reload after each. */
  revision: number;
}

const INITIAL: OrchestratorState = { preview: null, url: null, status: "idle", phase: null, error: null, deployment: null, pending: false, revision: 0 };

export class Orchestrator {
  private opts: OrchestratorOptions;
  private state: OrchestratorState = INITIAL;
  private readonly listeners = new Set<() => void>();
  private creating: Promise<Preview> | undefined;
  private api: PreviewdClient;
  private sent: Files | undefined;
  private desired: Files;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private flushing: Promise<void> = Promise.resolve();
  private attachment: AbortController | undefined;
  /** The attachment whose signal the running watch uses. */
  private following: AbortSignal | undefined;

  constructor(opts: OrchestratorOptions) {
    this.opts = opts;
    this.api = opts.client;
    this.desired = opts.files;
  }

  // --- for useSyncExternalStore ---
  subscribe = (listener: () => void): (() => void) => {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  };
  getSnapshot = (): OrchestratorState => this.state;

  setOptions(opts: OrchestratorOptions): void {
    if (opts.client !== this.opts.client && !this.creating) this.api = opts.client;
    this.opts = opts;
  }

  /** Mounted (or re-mounted): start following; create first when asked to. */
  attach(): void {
    this.attachment = new AbortController();
    // A create under way (StrictMode's second mount) is joined, never repeated; it follows once it is done.
    if (this.creating) this.creating.then((p) => this.followIfAttached(p), () => {});
    else if (this.opts.autoCreate !== false) this.create().catch(() => {}); // the state has the error
    if (this.isPending()) this.schedule();
  }

  /** Unmounted: stop the watch, in-flight requests and timers. Unsent changes stay in memory for a re-attach. */
  detach(): void {
    this.attachment?.abort();
    this.attachment = undefined;
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** Creates the preview (once; later calls return the same promise). */
  create = (): Promise<Preview> => {
    this.creating ??= this.doCreate();
    return this.creating;
  };

  /** The full set of files (the `files` prop): replaces what is desired; the difference is sent after the debounce. */
  setFiles(files: Files): void {
    if (files === this.desired) return;
    this.desired = files;
    this.changed();
  }

  /** Changes some files (and deletes paths) on top of the current set; sent after the debounce. */
  update = (files: Files, o: { delete?: string[] } = {}): void => {
    const next: Files = { ...this.desired, ...files };
    for (const path of o.delete ?? []) delete next[path];
    this.desired = next;
    this.changed();
  };

  /** Sends pending changes now, and resolves once the daemon has them. */
  flush = (): Promise<void> => {
    clearTimeout(this.timer);
    this.timer = undefined;
    const signal = this.attachment?.signal;
    if (!signal) return this.flushing;
    // One PATCH at a time; a failed one does not block the next.
    this.flushing = this.flushing.catch(() => {}).then(() => this.sendDiff(signal));
    return this.flushing;
  };

  deploy = async (opts: DeployOptions = {}): Promise<Deployment> => {
    const preview = await this.create();
    const signal = this.attachment?.signal;
    this.set({ deployment: null, error: null });
    try {
      return await this.api.deploy(preview.id, opts, { signal, onProgress: (d) => !signal?.aborted && this.set({ deployment: d }) });
    } catch (e) {
      if (!signal?.aborted) this.set({ error: asError(e) });
      throw e;
    }
  };

  destroy = async (): Promise<void> => {
    if (!this.creating) return this.set({ status: "deleted" });
    const preview = await this.create();
    clearTimeout(this.timer);
    this.sent = this.desired; // nothing left to send to a preview that is going away
    try {
      await (this.opts.remove ? this.opts.remove(preview) : this.api.previews.remove(preview.id));
    } catch (e) {
      if (!(e instanceof PreviewdError && e.status === 404)) {
        this.set({ error: asError(e) });
        throw e;
      }
    }
    this.set({ status: "deleted", preview: { ...preview, status: "deleted" }, pending: false });
  };

  private async doCreate(): Promise<Preview> {
    const o = this.opts;
    const body: CreatePreviewBody = { files: this.desired, ...pick(o) };
    this.set({ status: "creating", error: null });
    try {
      const result = await (o.create ? o.create(body) : o.client.previews.create(body));
      const { preview, token } = "preview" in result ? result : { preview: result, token: undefined };
      if (token) this.api = o.client.withToken(token);
      this.sent = body.files;
      const pending = this.isPending(); // files changed while it was being created
      this.set({ preview, url: preview.url, status: preview.status, phase: preview.phase ?? null, pending });
      if (pending) this.schedule();
      this.followIfAttached(preview);
      return preview;
    } catch (e) {
      this.creating = undefined; // a later create() may try again
      this.set({ status: "failed", error: asError(e) });
      throw e;
    }
  }

  /** Starts the watch for the current attachment, once per attachment. */
  private followIfAttached(preview: Preview): void {
    const signal = this.attachment?.signal;
    if (!signal || signal.aborted || this.following === signal) return;
    this.following = signal;
    this.follow(preview, signal);
  }

  private follow(preview: Preview, signal: AbortSignal): void {
    const w = this.api.previews.watch(preview.id, {
      signal,
      onEvent: (ev) => {
        if (signal.aborted || this.state.status === "deleted") return;
        if (ev.type === "deployment") {
          if (this.state.deployment?.id === ev.deployment.id) this.set({ deployment: ev.deployment });
          return;
        }
        const p = { ...this.state.preview, ...ev.preview } as Preview;
        this.set({ preview: p, url: p.url ?? this.state.url, status: p.status, phase: p.phase ?? null });
      },
    });
    w.done.catch((e: unknown) => !signal.aborted && this.set({ error: asError(e) }));
  }

  private changed(): void {
    const pending = this.isPending();
    if (pending !== this.state.pending) this.set({ pending });
    if (pending) this.schedule();
  }

  private schedule(): void {
    if (!this.attachment) return; // re-scheduled by attach()
    clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.flush().catch(() => {}), this.opts.debounceMs ?? 300);
  }

  /** Changes the daemon does not have yet; before creation there is nothing to send (create takes the files). */
  private isPending(): boolean {
    return this.sent !== undefined && diff(this.sent, this.desired) !== undefined;
  }

  private async sendDiff(signal: AbortSignal): Promise<void> {
    if (signal.aborted || this.state.status === "deleted" || !this.creating) return;
    const preview = await this.creating;
    if (signal.aborted || !this.sent) return;
    const target = this.desired;
    const d = diff(this.sent, target);
    if (!d) return;
    try {
      await this.api.previews.updateFiles(preview.id, d.files, { delete: d.delete, signal });
      this.sent = target;
      this.set({ revision: this.state.revision + 1, error: null, pending: this.isPending() });
    } catch (e) {
      if (signal.aborted) return;
      this.set({ error: asError(e) });
      throw e;
    }
  }

  private set(patch: Partial<OrchestratorState>): void {
    this.state = { ...this.state, ...patch };
    for (const l of this.listeners) l();
  }
}

/** The create fields the options carry besides files. */
function pick(o: OrchestratorOptions): Omit<CreatePreviewBody, "files"> {
  const body: Omit<CreatePreviewBody, "files"> = {};
  if (o.database !== undefined) body.database = o.database;
  if (o.tier !== undefined) body.tier = o.tier;
  if (o.command !== undefined) body.command = o.command;
  if (o.port !== undefined) body.port = o.port;
  if (o.env !== undefined) body.env = o.env;
  return body;
}

/** What a PATCH must carry to turn `from` into `to`; undefined when they are the same. */
export function diff(from: Files, to: Files): { files: Files; delete: string[] } | undefined {
  const files: Files = {};
  for (const [path, content] of Object.entries(to)) {
    const old = from[path];
    if (old === undefined || !sameContent(old, content)) files[path] = content;
  }
  const removed = Object.keys(from).filter((path) => !(path in to));
  return Object.keys(files).length || removed.length ? { files, delete: removed } : undefined;
}

function sameContent(a: FileContent, b: FileContent): boolean {
  if (typeof a === "string" || typeof b === "string") return a === b;
  return a.base64 === b.base64;
}

function asError(e: unknown): Error {
  return e instanceof Error ? e : new Error(String(e));
}

