// Variable rendering as Railway documents it (docs: variables/reference.md,
// variables.md): `${{VAR}}` is the same service's variable, `${{Svc.VAR}}`
// another service's (namespace = service name), `${{shared.VAR}}` an
// environment's shared variable; references compose inside strings. A
// reference to something that does not exist renders as "" (what Railway
// does), and so does a reference cycle. Railway-provided variables
// (RAILWAY_*) are part of every service's rendered set.
import type { Environment, Project, Service } from "./state.ts";
import { privateDomain } from "./state.ts";

const REF = /\$\{\{\s*([^}]*?)\s*\}\}/g;

/** The variables Railway itself provides to a service (only those that exist: no proxy, no TCP_PROXY_*). */
export function providedVariables(project: Project, env: Environment, service: Service): Record<string, string> {
  const vars: Record<string, string> = {
    RAILWAY_PROJECT_ID: project.id,
    RAILWAY_PROJECT_NAME: project.name,
    RAILWAY_ENVIRONMENT_ID: env.id,
    RAILWAY_ENVIRONMENT_NAME: env.name,
    RAILWAY_ENVIRONMENT: env.name,
    RAILWAY_SERVICE_ID: service.id,
    RAILWAY_SERVICE_NAME: service.name,
    RAILWAY_PRIVATE_DOMAIN: privateDomain(service),
  };
  const proxy = service.tcpProxies.find((p) => p.environmentId === env.id);
  if (proxy) {
    vars.RAILWAY_TCP_PROXY_DOMAIN = "127.0.0.1"; // the fake's proxies listen on loopback
    vars.RAILWAY_TCP_PROXY_PORT = String(proxy.proxyPort);
    vars.RAILWAY_TCP_APPLICATION_PORT = String(proxy.applicationPort);
  }
  const domain = service.domains.find((d) => d.environmentId === env.id);
  if (domain) {
    vars.RAILWAY_PUBLIC_DOMAIN = domain.domain;
    vars.RAILWAY_STATIC_URL = domain.domain; // the older name Railway still sets
  }
  return vars;
}

/** A service's variables as its deployment sees them: provided ones, then its own, all references resolved. */
export function renderServiceVariables(project: Project, env: Environment, service: Service): Record<string, string> {
  const out: Record<string, string> = {};
  const raw = { ...providedVariables(project, env, service), ...service.variables };
  for (const key of Object.keys(raw)) out[key] = resolve(project, env, service, key, new Set());
  return out;
}

/** The shared variables, rendered (they may reference other shared variables). */
export function renderSharedVariables(project: Project, env: Environment): Record<string, string> {
  const out: Record<string, string> = {};
  for (const key of Object.keys(env.shared)) out[key] = resolve(project, env, null, key, new Set());
  return out;
}

/** One variable's value in a namespace (a service, or null for shared), references expanded. */
function resolve(project: Project, env: Environment, service: Service | null, key: string, seen: Set<string>): string {
  const id = `${service?.id ?? "shared"}:${key}`;
  if (seen.has(id)) return ""; // a cycle renders empty rather than hanging the fake
  const raw = service ? ({ ...providedVariables(project, env, service), ...service.variables } as Record<string, string>)[key] : env.shared[key];
  if (raw === undefined) return "";
  const next = new Set(seen).add(id);
  return raw.replace(REF, (_m, ref: string) => {
    const dot = ref.indexOf(".");
    if (dot < 0) return service ? resolve(project, env, service, ref, next) : resolve(project, env, null, ref, next);
    const ns = ref.slice(0, dot);
    const name = ref.slice(dot + 1);
    if (ns === "shared") return resolve(project, env, null, name, next);
    // Namespaces are service names; Railway matches them as written, the fake also forgives case.
    const target = project.services.find((s) => s.name === ns) ?? project.services.find((s) => s.name.toLowerCase() === ns.toLowerCase());
    return target ? resolve(project, env, target, name, next) : "";
  });
}

/** Validates an EnvironmentVariables scalar value: a flat map of strings. */
export function asVariableMap(v: unknown, what = "variables"): Record<string, string> {
  if (v === null || v === undefined) return {};
  if (typeof v !== "object" || Array.isArray(v)) throw new Error(`${what} must be an object of strings`);
  const out: Record<string, string> = {};
  for (const [k, val] of Object.entries(v as Record<string, unknown>)) {
    if (!/^[A-Za-z_][A-Za-z0-9_.-]*$/.test(k)) throw new Error(`Invalid variable name: ${k}`);
    if (typeof val !== "string") throw new Error(`Variable ${k} must be a string`);
    out[k] = val;
  }
  return out;
}
