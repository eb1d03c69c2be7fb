// `previewd drain [NODE]`: empties a node (default: the one PREVIEWD_API_URL
// talks to) before it is powered off, and follows it until nothing runs
// there: a line per preview moved, then "safe to power off".
import type { Api } from "./client.ts";
import { check } from "./client.ts";

interface Status {
  node: string;
  remaining: number;
  moved: Array<{ id: string; to: string }>;
  problems: Array<{ id: string; error: string }>;
  safeToPowerOff: boolean;
}

export async function drain(api: Api, node: string | undefined, o: { json: boolean; write: (s: string) => void; pollMs?: number }): Promise<number> {
  node ??= ((await (await check(await api("/v1/cluster"))).json()) as { warmPool?: { node: string } }).warmPool?.node;
  if (!node) throw new Error("could not tell which node the daemon is; name it: previewd drain NODE");
  let s = (await (await check(await api(`/v1/nodes/${node}/drain`, { method: "POST" }))).json()) as Status;
  if (!o.json) o.write(`draining ${node}: no new previews there; ${s.remaining} to move\n`);
  let shown = 0;
  let lastProblem = "";
  for (;;) {
    if (!o.json) {
      for (const m of s.moved.slice(shown)) o.write(`  moved ${m.id} -> ${m.to}\n`);
      shown = s.moved.length;
      const problem = s.problems.map((p) => `${p.id}: ${p.error}`).join("; ");
      if (problem && problem !== lastProblem) o.write(`  waiting: ${problem}\n`);
      lastProblem = problem;
    }
    if (s.safeToPowerOff) break;
    await Bun.sleep(o.pollMs ?? 1000);
    s = (await (await check(await api(`/v1/nodes/${node}/drain`))).json()) as Status;
  }
  o.write(o.json ? JSON.stringify(s) + "\n" : `${node} is drained (${s.moved.length} moved): safe to power off\n`);
  return 0;
}
