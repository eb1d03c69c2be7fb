// The Machines API routes under /v1 (reference §1.1-1.7). Every answer has
// a fly-request-id header; errors are {"error": "...", "status"?: "..."}.
// Before a handler runs, a call passes auth, then injected faults, then the
// per-action rate limit, and is recorded in calls() with its final status.
import { Hono, type Context } from "hono";
import * as v from "valibot";
import { type Faults, type RateLimits, type Refusal } from "./limits.ts";
import { FlyError, machineJson, type Machines, ulid } from "./machines.ts";
import { CreateApp, CreateMachine, IpAssign, StopBody, issueText } from "./schemas.ts";

export interface FakeApp {
  id: string;
  name: string;
  org: string;
  created_at: number;
  /** ip_assignments: without a public one, {app}.fly.dev does not resolve (reference §1.9), so the edge refuses. */
  ips: Array<{ ip: string; type: string; shared: boolean; region: string; created_at: string }>;
}

/** A public or private address of the documented kind (shared v4 from Fly's shared range, v6 from 2a09:8280::/32, private fdaa:). */
export function assignIp(type: string): FakeApp["ips"][number] {
  const n = () => Math.floor(Math.random() * 250) + 1;
  const hex = () => Math.floor(Math.random() * 0xffff).toString(16);
  const ip = type === "shared_v4" ? `66.241.124.${n()}` : type === "v4" ? `137.66.${n()}.${n()}` : type === "private_v6" ? `fdaa:0:1:0:${hex()}::` : `2a09:8280:1::${hex()}:${hex()}`;
  return { ip, type, shared: type === "shared_v4", region: "global", created_at: new Date().toISOString() };
}

export interface Call {
  at: number;
  method: string;
  path: string;
  /** The query string, without "?" (e.g. metadata.previewd_preview=p1). */
  query: string;
  action: string;
  /** Machine id or app name the action was limited by. */
  scope: string;
  status: number;
}

export interface ApiDeps {
  token: string;
  defaultRegion: string;
  apps: Map<string, FakeApp>;
  machines: Machines;
  limits: RateLimits;
  faults: Faults;
  calls: Call[];
}

type Step = { action: string; scope: string; region?: string };

export function machinesApi(d: ApiDeps): Hono {
  const app = new Hono();

  const reply = (c: Context, status: number, body: unknown, headers: Record<string, string> = {}) => {
    for (const [k, val] of Object.entries(headers)) c.header(k, val);
    return status === 204 || body === undefined ? c.body(null, status as 202) : c.json(body, status as 200);
  };
  const refuse = (c: Context, r: Refusal) => reply(c, r.status, r.body, r.headers);

  // fly-go Parse(): the scheme may be Bearer or FlyV1; the token itself is what counts.
  app.use("/v1/*", async (c, next) => {
    c.header("fly-request-id", `${ulid()}-${d.defaultRegion}`);
    const m = /^(Bearer|FlyV1)\s+(.+)$/i.exec(c.req.header("authorization") ?? "");
    if (!m || m[2]!.trim() !== d.token) {
      d.calls.push({ at: Date.now(), method: c.req.method, path: c.req.path, query: queryOf(c), action: "auth", scope: "", status: 401 });
      return reply(c, 401, { error: "Authenticate: token validation error" });
    }
    await next();
  });

  /** Faults, then rate limit, then the handler; the call is recorded with the status it got. */
  const guarded = (step: (c: Context) => Step | Promise<Step>, handler: (c: Context) => Promise<Response> | Response) => async (c: Context) => {
    const s = await step(c);
    const call: Call = { at: Date.now(), method: c.req.method, path: c.req.path, query: queryOf(c), action: s.action, scope: s.scope, status: 0 };
    d.calls.push(call);
    let res: Response;
    try {
      const fault = d.faults.take(s.action, s.region);
      if (fault && "delayMs" in fault) await Bun.sleep(fault.delayMs);
      const refusal = (fault && "status" in fault ? fault : undefined) ?? d.limits.check(s.action, s.scope);
      res = refusal ? refuse(c, refusal) : await handler(c);
    } catch (e) {
      if (!(e instanceof FlyError)) throw e;
      res = reply(c, e.status, { error: e.message, ...(e.code ? { status: e.code } : {}) });
    }
    call.status = res.status;
    return res;
  };

  const findApp = (name: string) => {
    const a = d.apps.get(name);
    if (!a) throw new FlyError(404, `Could not find App "${name}"`);
    return a;
  };
  const body = async <S extends v.GenericSchema>(c: Context, schema: S): Promise<v.InferOutput<S>> => {
    let raw: unknown;
    try {
      const text = await c.req.text();
      raw = text ? JSON.parse(text) : undefined;
    } catch {
      throw new FlyError(400, "invalid JSON body");
    }
    const r = v.safeParse(schema, raw);
    if (!r.success) throw new FlyError(400, issueText(r.issues));
    return r.output;
  };
  const appStep = (action: string) => (c: Context): Step => ({ action, scope: c.req.param("app")! });
  const machineStep = (action: string) => (c: Context): Step => ({ action, scope: c.req.param("id")! });

  // Apps (§1.4)
  app.post("/v1/apps", guarded(() => ({ action: "app_create", scope: "org" }), async (c) => {
    const b = await body(c, CreateApp);
    if (!/^[a-z0-9-]{2,63}$/.test(b.name)) throw new FlyError(400, "app name: lower-case letters, digits and -");
    if (d.apps.has(b.name)) throw new FlyError(422, "Name has already been taken", "name_taken");
    const a: FakeApp = { id: ulid().toLowerCase(), name: b.name, org: b.org_slug, created_at: Date.now(), ips: [] };
    d.apps.set(a.name, a);
    return reply(c, 201, { id: a.id, created_at: a.created_at });
  }));
  app.get("/v1/apps", guarded(() => ({ action: "app_list", scope: "org" }), (c) => {
    const org = c.req.query("org_slug");
    const apps = [...d.apps.values()].filter((a) => !org || a.org === org).map((a) => appJson(a, d));
    return reply(c, 200, { total_apps: apps.length, apps });
  }));
  app.get("/v1/apps/:app", guarded(appStep("app_get"), (c) => reply(c, 200, appJson(findApp(c.req.param("app")!), d))));
  app.delete("/v1/apps/:app", guarded(appStep("app_delete"), (c) => {
    const a = findApp(c.req.param("app")!);
    const mine = [...d.machines.all.values()].filter((m) => m.app === a.name && m.state !== "destroyed");
    if (c.req.query("force") !== "true" && mine.some((m) => m.state === "started")) {
      throw new FlyError(412, "failed_precondition: app has running machines; stop them or use force=true");
    }
    for (const m of mine) d.machines.destroy(m, true);
    d.apps.delete(a.name);
    return reply(c, 202, undefined);
  }));

  // IP assignments (reference §1.9, spec App_IPAssignments_*, fly-go flaps_ip_assignments.go)
  app.get("/v1/apps/:app/ip_assignments", guarded(appStep("ip_list"), (c) => {
    const a = findApp(c.req.param("app")!);
    return reply(c, 200, { ips: a.ips.map(({ type: _t, ...ip }) => ({ ...ip, service_name: "" })) });
  }));
  app.post("/v1/apps/:app/ip_assignments", guarded(appStep("ip_assign"), async (c) => {
    const a = findApp(c.req.param("app")!);
    const b = await body(c, IpAssign);
    const ip = assignIp(b.type);
    a.ips.push(ip);
    const { type: _t, ...out } = ip;
    return reply(c, 200, { ...out, service_name: "", network: b.network ?? "" });
  }));

  // Machines (§1.5-1.7)
  const base = "/v1/apps/:app/machines";
  app.get(base, guarded((c) => ({ action: "list", scope: c.req.param("app")! }), (c) => {
    const a = findApp(c.req.param("app")!);
    const q = new URL(c.req.url).searchParams;
    const states = q.get("state")?.split(",").filter(Boolean);
    const meta = [...q.entries()].filter(([k]) => k.startsWith("metadata.")).map(([k, val]) => [k.slice(9), val] as const);
    const list = [...d.machines.all.values()].filter(
      (m) =>
        m.app === a.name &&
        (q.get("include_deleted") === "true" || m.state !== "destroyed") &&
        (!q.get("region") || m.region === q.get("region")) &&
        (!states || states.includes(m.state)) &&
        meta.every(([k, val]) => m.config.metadata?.[k] === val),
    );
    return reply(c, 200, list.map((m) => machineJson(m, q.get("summary") === "true")));
  }));
  app.post(base, guarded(
    async (c) => ({ action: "create", scope: c.req.param("app")!, region: await regionOf(c, d.defaultRegion) }),
    async (c) => {
      const a = findApp(c.req.param("app")!);
      const b = await body(c, CreateMachine);
      const m = await d.machines.create(a.name, b.region ?? d.defaultRegion, b.config, b.name, b.skip_launch ?? false);
      return reply(c, 200, machineJson(m));
    },
  ));
  const machine = (c: Context) => d.machines.get(findApp(c.req.param("app")!).name, c.req.param("id")!);
  const live = (c: Context) => d.machines.get(findApp(c.req.param("app")!).name, c.req.param("id")!, false);
  app.get(`${base}/:id`, guarded(machineStep("get"), (c) => reply(c, 200, machineJson(machine(c)))));
  app.post(`${base}/:id/start`, guarded(machineStep("start"), (c) => reply(c, 200, d.machines.start(live(c)))));
  app.post(`${base}/:id/stop`, guarded(machineStep("stop"), async (c) => {
    const m = live(c);
    const b = await body(c, StopBody);
    const t = b?.timeout ?? m.config.stop_config?.timeout ?? "10s";
    d.machines.stop(m, typeof t === "number" ? Math.ceil(t / 1e9) : parseInt(String(t), 10) || 10);
    return reply(c, 200, { ok: true });
  }));
  app.post(`${base}/:id/suspend`, guarded(machineStep("suspend"), (c) => (d.machines.suspend(live(c)), reply(c, 200, { ok: true }))));
  app.delete(`${base}/:id`, guarded(machineStep("destroy"), (c) => {
    // Docs/spec say ?force=true; fly-go sends ?kill=true. Both work.
    d.machines.destroy(live(c), c.req.query("force") === "true" || c.req.query("kill") === "true");
    return reply(c, 200, { ok: true });
  }));
  app.get(`${base}/:id/wait`, guarded(machineStep("wait"), async (c) => {
    const m = machine(c);
    const q = new URL(c.req.url).searchParams;
    const states = q.getAll("state").flatMap((s) => s.split(",")).filter(Boolean);
    if (states.length === 0) states.push("started");
    const bad = states.find((s) => !["started", "stopped", "suspended", "destroyed", "failed", "settled"].includes(s));
    if (bad) throw new FlyError(400, `invalid state "${bad}"`);
    const timeout = Number(q.get("timeout") ?? 60);
    if (!Number.isInteger(timeout) || timeout < 1 || timeout > 60) throw new FlyError(400, "timeout must be 1-60 seconds");
    const version = q.get("version") ?? q.get("instance_id") ?? undefined;
    // docs machines-resource: instance_id is "Required when waiting for Machine to be in `stopped` state".
    if (states.includes("stopped") && !version) throw new FlyError(400, "instance_id (or version) is required when waiting for state stopped");
    if (!(await d.machines.wait(m, states, version, timeout * 1000))) {
      throw new FlyError(408, `deadline_exceeded: machine ${m.id} did not reach ${states.join("|")} in ${timeout}s (now ${m.state})`);
    }
    return reply(c, 200, { ok: true, state: m.state, version: m.instance_id });
  }));

  app.notFound((c) => reply(c, 404, { error: `no such route: ${c.req.method} ${c.req.path}` }));
  return app;
}

/** The region a create targets, read before the handler (for region-scoped faults); never throws. Hono caches the body text. */
async function regionOf(c: Context, fallback: string): Promise<string> {
  try {
    const r = (JSON.parse(await c.req.text()) as { region?: unknown }).region;
    return typeof r === "string" && r ? r : fallback;
  } catch {
    return fallback;
  }
}

const queryOf = (c: Context) => new URL(c.req.url).search.slice(1);

function appJson(a: FakeApp, d: ApiDeps) {
  const count = [...d.machines.all.values()].filter((m) => m.app === a.name && m.state !== "destroyed").length;
  return { id: a.id, name: a.name, status: "deployed", organization: { name: a.org, slug: a.org }, network: "default", machine_count: count, volume_count: 0 };
}
