// `previewd create|ls|logs|rm|deploy`: thin clients of the control API at
// PREVIEWD_API_URL with PREVIEWD_API_TOKEN (else the token file in the data dir).
import { existsSync, statSync } from "node:fs";
import * as v from "valibot";
import { describeSettings } from "../config.ts";
import { CliError, parseArgs, usageError, type ArgSpec } from "./args.ts";
import { check, client } from "./client.ts";
import { followDeployment } from "./deploy.ts";
import { drain } from "./drain.ts";
import { packDir } from "./pack.ts";
import { listShares, setVisibility, share, unshare } from "./share.ts";
import { followPreview, type PreviewLike } from "./progress.ts";
import { table, type Row } from "./table.ts";

export function usage(version: string): string {
  const settings = describeSettings().map((s) => `  ${s.env.padEnd(26)} ${s.def || "(unset)"}`).join("\n");
  return `previewd ${version}: self-hosted preview environments

Usage:
  previewd serve                 run the daemon (settings from the environment)
  previewd create DIR [--db] [--private | --public] [--follow | --detach | --wait] [--json]
                                 upload DIR as a new preview (one .tar.gz: binary files
                                 as they are, .gitignore honoured, never node_modules
                                 or .git), follow it through installing and starting
                                 (--follow, the default), end with its URL; --detach:
                                 print the URL at once; --wait: the daemon waits, no
                                 progress; --json: only the final preview object;
                                 --private: only share links open it (default:
                                 the daemon's PREVIEWD_VISIBILITY)
  previewd visibility ID public|private
  previewd share ID [--ttl SECONDS] [--password TEXT] [--json]
                                 a share link to a private preview (prints its URL)
  previewd shares ID [--json]    the preview's live share links
  previewd unshare ID SHARE      revoke a share link (on every node within seconds)
  previewd ls [--json]           list previews of the whole cluster as a table
  previewd logs ID [-f|--follow] [--tail N]
  previewd rm ID                 delete a preview (container, schema and role)
  previewd deploy ID [--project NAME] [--cleanup] [--create] [--confirm TEXT]... [--json]
                                 promote a preview to Railway and follow it to live; a
                                 preview with a live deployment is updated (same project,
                                 new code, its schema change, production's rows kept)
                                 unless --create; --confirm carries a destructive change
                                 by the exact text a refused deploy printed
  previewd rollback DEPLOYMENT [--json]
                                 put the code before that update back and follow it
  previewd drain [NODE] [--json]  move a node's previews (default: this daemon's) to the
                                 other nodes, refuse new ones there, and say when it is
                                 safe to power it off
  previewd --version | --help

Exit codes: 0 ok (create: the preview runs), 1 failed or not found (also: daemon
unreachable), 2 usage error.

Client settings: PREVIEWD_API_URL (default http://127.0.0.1:8081), PREVIEWD_API_TOKEN
(default: read from $PREVIEWD_DATA_DIR/api-token).

Daemon settings (env, default):
${settings}
`;
}

const Id = v.pipe(v.string("a preview id is required"), v.regex(/^[a-z0-9]{12,64}$/, "a preview id is 12-64 characters of a-z and 0-9"));
const Tail = v.pipe(v.string(), v.regex(/^\d{1,5}$/, "--tail takes a number of lines"));

/** Each command's options; anything else is a usage error (exit 2). */
const SPECS: Record<string, ArgSpec> = {
  create: { flags: ["--wait", "--db", "--follow", "--detach", "--json", "--private", "--public"] },
  visibility: {},
  share: { flags: ["--json"], valued: ["--ttl", "--password"] },
  shares: { flags: ["--json"] },
  unshare: {},
  ls: { flags: ["--json"] },
  logs: { flags: ["--follow"], valued: ["--tail"], aliases: { "-f": "--follow" } },
  rm: {},
  deploy: { flags: ["--cleanup", "--create", "--json"], valued: ["--project", "--confirm"] },
  rollback: { flags: ["--json"] },
  drain: { flags: ["--json"] },
};

/** The one positional argument a command takes: missing is a usage error. */
function one(what: string, positional: string[]): string {
  if (positional.length === 0) throw usageError(`${what} is needed; see previewd --help`);
  if (positional.length > 1) throw usageError(`one argument expected (${what}), got ${positional.length}: ${positional.join(" ")}`);
  return positional[0]!;
}

const previewId = (positional: string[]) => v.parse(Id, one("a preview id", positional));

export async function runCli(command: string, args: string[], version = ""): Promise<number> {
  const out = (s: string) => void process.stdout.write(s);
  const err = (s: string) => void process.stderr.write(s);
  try {
    const spec = SPECS[command];
    if (!spec) throw usageError(`unknown command ${JSON.stringify(command)}; see previewd --help`);
    if (args.includes("--help") || args.includes("-h")) {
      out(usage(version));
      return 0;
    }
    const { positional, flags, values, lists } = parseArgs(args, spec);
    const api = client();
    switch (command) {
      case "create": {
        const dir = one("a directory", positional);
        if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new CliError(`create needs a directory; ${JSON.stringify(dir)} is not one`);
        if (flags.has("--detach") && (flags.has("--follow") || flags.has("--wait"))) throw usageError("--detach returns at once; it does not go with --follow or --wait");
        const query = new URLSearchParams();
        const wait = flags.has("--wait");
        if (wait) query.set("wait", "1");
        if (flags.has("--db")) query.set("database", "1");
        if (flags.has("--private") && flags.has("--public")) throw usageError("--private and --public do not go together");
        if (flags.has("--private")) query.set("visibility", "private");
        if (flags.has("--public")) query.set("visibility", "public");
        const q = query.size ? `?${query}` : "";
        const res = await check(await api(`/v1/previews${q}`, { method: "POST", body: await packDir(dir), headers: { "content-type": "application/gzip" } }));
        const p = (await res.json()) as PreviewLike;
        // --wait (the daemon waits, no progress) and --detach: one line, as before progress existed.
        if (wait || flags.has("--detach")) {
          out(flags.has("--json") ? JSON.stringify(p) + "\n" : `${p.url}  (${p.id}, ${p.status})\n`);
          if (p.status === "failed" && !flags.has("--json")) err(`previewd create: preview ${p.id} failed: ${p.error ?? "no reason given"} (see: previewd logs ${p.id})\n`);
          return p.status === "failed" ? 1 : 0;
        }
        return await followPreview(api, p, { json: flags.has("--json"), tty: !!process.stdout.isTTY, write: out, writeErr: err });
      }
      case "ls": {
        if (positional.length) throw usageError(`no arguments expected, got ${positional.join(" ")}`);
        const { previews } = (await (await check(await api("/v1/previews"))).json()) as { previews: Row[] };
        if (flags.has("--json")) out(JSON.stringify(previews) + "\n");
        else out(table(previews));
        return 0;
      }
      case "logs": {
        const id = previewId(positional);
        const tail = values.has("--tail") ? v.parse(Tail, values.get("--tail")) : "200";
        const res = await check(await api(`/v1/previews/${id}/logs?tail=${tail}${flags.has("--follow") ? "&follow=1" : ""}`));
        for await (const chunk of res.body!) process.stdout.write(chunk);
        return 0;
      }
      case "rm": {
        const id = previewId(positional);
        await check(await api(`/v1/previews/${id}`, { method: "DELETE" }));
        out(`deleted ${id}\n`);
        return 0;
      }
      case "visibility":
        if (positional.length !== 2) throw usageError("visibility takes ID and public or private");
        return await setVisibility(api, v.parse(Id, positional[0]), positional[1], out);
      case "share":
        return await share(api, previewId(positional), { ttl: values.get("--ttl"), password: values.get("--password"), json: flags.has("--json") }, out);
      case "shares":
        return await listShares(api, previewId(positional), flags.has("--json"), out);
      case "unshare":
        if (positional.length !== 2) throw usageError("unshare takes ID and SHARE (an id from previewd shares ID)");
        return await unshare(api, v.parse(Id, positional[0]), positional[1], out);
      case "drain": {
        if (positional.length > 1) throw usageError(`at most one node expected, got ${positional.join(" ")}`);
        return await drain(api, positional[0], { json: flags.has("--json"), write: out });
      }
      case "rollback": {
        const id = v.parse(v.pipe(v.string(), v.regex(/^d_[a-z0-9]{1,64}$/, "a deployment id looks like d_ and letters or digits")), one("a deployment id", positional));
        const res = await check(await api(`/v1/deployments/${id}/rollback`, { method: "POST" }));
        const { deployment } = (await res.json()) as { deployment: Parameters<typeof followDeployment>[1] };
        return await followDeployment(api, deployment, { json: flags.has("--json"), tty: !!process.stdout.isTTY, write: out });
      }
      default: {
        // deploy
        const id = previewId(positional);
        const project = values.get("--project");
        const confirm = lists.get("--confirm");
        const body = {
          provider: "railway",
          ...(project !== undefined ? { projectName: project } : {}),
          ...(flags.has("--cleanup") ? { cleanup: true } : {}),
          ...(flags.has("--create") ? { mode: "create" } : {}),
          ...(confirm ? { confirm } : {}),
        };
        const res = await check(await api(`/v1/previews/${id}/deploy`, { method: "POST", body: JSON.stringify(body) }));
        const { deployment } = (await res.json()) as { deployment: Parameters<typeof followDeployment>[1] };
        return await followDeployment(api, deployment, { json: flags.has("--json"), tty: !!process.stdout.isTTY, write: out });
      }
    }
  } catch (e) {
    // One line, whatever went wrong: scripts read the exit code, people the line.
    const message = v.isValiError(e) ? e.issues[0]!.message : e instanceof Error ? e.message : String(e);
    err(`previewd ${command}: ${message.split("\n")[0]}\n`);
    return e instanceof CliError ? e.exitCode : 1;
  }
}
