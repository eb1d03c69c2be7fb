// `previewd create|ls|logs|rm|deploy`: thin clients of the control API at
// PREVIEWD_API_URL with PREVIEWD_API_TOKEN (else the token file in the data dir).
import { existsSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import * as v from "valibot";
import { describeSettings } from "../config.ts";
import { followDeployment } from "./deploy.ts";
import { packDir } from "./pack.ts";

export function usage(version: string): string {
  const settings = describeSettings().map((s) => `  ${s.env.padEnd(26)} ${s.def || "(unset)"}`).join("\n");
  return `previewd ${version}: self-hosted preview environments

Usage:
  previewd serve                 run the daemon (settings from the environment)
  previewd create DIR [--wait] [--db]
                                 upload DIR as a new preview (one .tar.gz: binary files
                                 as they are, .gitignore honoured, never node_modules
                                 or .git), print its URL
  previewd ls                    list previews of the whole cluster
  previewd logs ID [--follow] [--tail N]
  previewd rm ID                 delete a preview (container, schema and role)
  previewd deploy ID [--project NAME] [--cleanup] [--json]
                                 promote a preview to Railway and follow it to live
  previewd --version | --help

Client settings: PREVIEWD_API_URL (default http://127.0.0.1:8081), PREVIEWD_API_TOKEN
(default: read from $PREVIEWD_DATA_DIR/api-token).

Daemon settings (env, default):
${settings}
`;
}

const Id = v.pipe(v.string("a preview id is required"), v.regex(/^[a-z0-9]{12,64}$/, "a preview id is 12-64 characters of a-z and 0-9"));
const Tail = v.pipe(v.string(), v.regex(/^\d{1,5}$/, "--tail takes a number of lines"));

function client() {
  const base = (process.env.PREVIEWD_API_URL ?? "http://127.0.0.1:8081").replace(/\/$/, "");
  let token = process.env.PREVIEWD_API_TOKEN ?? "";
  const tokenFile = join(process.env.PREVIEWD_DATA_DIR ?? "./data", "api-token");
  if (!token && existsSync(tokenFile)) token = readFileSync(tokenFile, "utf8").trim();
  return (path: string, init: RequestInit = {}) =>
    fetch(`${base}${path}`, { ...init, headers: { authorization: `Bearer ${token}`, "content-type": "application/json", ...(init.headers as object) } });
}

async function check(res: Response): Promise<Response> {
  if (res.ok) return res;
  let msg = `HTTP ${res.status}`;
  try {
    const body = (await res.json()) as { error?: { message?: string } };
    if (body.error?.message) msg = body.error.message;
  } catch {}
  throw new Error(msg);
}

export async function runCli(command: string, args: string[]): Promise<number> {
  const flags = new Set(args.filter((a) => a.startsWith("--")));
  const valued = new Set(["--tail", "--project"]);
  const positional = args.filter((a, i) => !a.startsWith("--") && !valued.has(args[i - 1] ?? ""));
  const api = client();
  try {
    switch (command) {
      case "create": {
        const dir = positional[0];
        if (!dir || !existsSync(dir) || !statSync(dir).isDirectory()) throw new Error(`create needs a directory; ${JSON.stringify(dir ?? "")} is not one`);
        const query = new URLSearchParams();
        if (flags.has("--wait")) query.set("wait", "1");
        if (flags.has("--db")) query.set("database", "1");
        const q = query.size ? `?${query}` : "";
        const res = await check(await api(`/v1/previews${q}`, { method: "POST", body: await packDir(dir), headers: { "content-type": "application/gzip" } }));
        const p = (await res.json()) as { id: string; url: string; status: string };
        console.log(`${p.url}  (${p.id}, ${p.status})`);
        return p.status === "failed" ? 1 : 0;
      }
      case "ls": {
        const { previews } = (await (await check(await api("/v1/previews"))).json()) as { previews: Array<{ id: string; status: string; node: string; url: string }> };
        for (const p of previews) console.log(`${p.id}  ${p.status.padEnd(9)}  ${p.node.padEnd(16)}  ${p.url}`);
        return 0;
      }
      case "logs": {
        const id = v.parse(Id, positional[0]);
        const i = args.indexOf("--tail");
        const tail = i >= 0 ? v.parse(Tail, args[i + 1] ?? "") : "200";
        const res = await check(await api(`/v1/previews/${id}/logs?tail=${tail}${flags.has("--follow") ? "&follow=1" : ""}`));
        for await (const chunk of res.body!) process.stdout.write(chunk);
        return 0;
      }
      case "rm": {
        const id = v.parse(Id, positional[0]);
        await check(await api(`/v1/previews/${id}`, { method: "DELETE" }));
        console.log(`deleted ${id}`);
        return 0;
      }
      case "deploy": {
        const id = v.parse(Id, positional[0]);
        const p = args.indexOf("--project");
        const body = { provider: "railway", ...(p >= 0 ? { projectName: args[p + 1] ?? "" } : {}), ...(flags.has("--cleanup") ? { cleanup: true } : {}) };
        const res = await check(await api(`/v1/previews/${id}/deploy`, { method: "POST", body: JSON.stringify(body) }));
        const { deployment } = (await res.json()) as { deployment: Parameters<typeof followDeployment>[1] };
        return await followDeployment(api, deployment, { json: flags.has("--json"), tty: !!process.stdout.isTTY, write: (s) => process.stdout.write(s) });
      }
      default:
        console.error(`previewd: unknown command ${JSON.stringify(command)}; see previewd --help`);
        return 2;
    }
  } catch (e) {
    const message = v.isValiError(e) ? e.issues[0]!.message : (e as Error).message;
    console.error(`previewd ${command}: ${message}`);
    return 1;
  }
}
