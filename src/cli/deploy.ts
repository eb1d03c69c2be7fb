// `previewd deploy ID`: starts a deployment and follows it step by step until
// it is live (exit 0, the URL on the last line) or fails (exit 1, the failing
// step and the provider's message). On a terminal the running step is one
// line redrawn with a spinner; piped, each change is one plain line; --json
// prints the final deployment object alone.
interface Step {
  name: string;
  startedAt: string;
  endedAt?: string;
  detail?: string;
}
interface Deployment {
  id: string;
  status: string;
  steps: Step[];
  url?: string;
  error?: { step: string; message: string; details?: { confirm?: { change: string; options: string[] }[] } };
}

type Api = (path: string, init?: RequestInit) => Promise<Response>;
const FINAL = new Set(["live", "failed", "removed"]);
const SPIN = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"];

export interface FollowOptions {
  json: boolean;
  tty: boolean;
  write(s: string): void;
  everyMs?: number;
}

export async function followDeployment(api: Api, first: Deployment, o: FollowOptions): Promise<number> {
  let d = first;
  const printed = new Set<string>();
  let spin = 0;
  let lastLine = "";
  if (!o.json) o.write(`deployment ${d.id} of preview started\n`);
  for (;;) {
    if (!o.json) {
      for (const s of d.steps) {
        if (s.endedAt && !printed.has(s.name)) {
          printed.add(s.name);
          if (o.tty) o.write("\r\x1b[2K");
          o.write(`${o.tty ? "✓" : "done"} ${s.name}${s.detail ? `: ${s.detail}` : ""}\n`);
        }
      }
      const current = d.steps.find((s) => !s.endedAt);
      if (current && !FINAL.has(d.status)) {
        const line = `${current.name}${current.detail ? `: ${current.detail}` : ""}`;
        if (o.tty) o.write(`\r\x1b[2K${SPIN[spin++ % SPIN.length]} ${line}`);
        else if (line !== lastLine) o.write(`… ${line}\n`);
        lastLine = line;
      }
    }
    if (FINAL.has(d.status)) break;
    await Bun.sleep(o.everyMs ?? 500);
    const res = await api(`/v1/deployments/${d.id}`);
    if (!res.ok) throw new Error(`the daemon answered HTTP ${res.status} while following deployment ${d.id}`);
    d = ((await res.json()) as { deployment: Deployment }).deployment;
  }
  if (o.tty && !o.json) o.write("\r\x1b[2K");
  if (o.json) o.write(JSON.stringify(d) + "\n");
  else if (d.status === "live") o.write(`live: ${d.url ?? "(no URL)"}\n`);
  else if (d.status === "failed") {
    o.write(`failed at ${d.error?.step ?? "?"}: ${d.error?.message ?? "no message"}\n`);
    // What to send back: one option per change, each its own --confirm.
    for (const q of d.error?.details?.confirm ?? []) o.write(`  ${q.change}\n${q.options.map((x) => `    --confirm ${shellQuote(x)}\n`).join("")}`);
  }
  else o.write(`deployment ${d.status}\n`);
  return d.status === "live" ? 0 : 1;
}

/** A single-quoted shell word (the confirmation texts hold spaces and double quotes). */
function shellQuote(s: string): string {
  return `'${s.replaceAll("'", `'\\''`)}'`;
}
