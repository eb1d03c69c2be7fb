// Shared by the deploy tests: a small app with no dependencies (fast to
// "build" at the fake Railway), the richer schema the data checks need, and
// waiting for a deployment to reach a status.
export interface DeploymentJson {
  id: string;
  previewId: string;
  status: string;
  steps: { name: string; startedAt: string; endedAt?: string; detail?: string }[];
  url?: string;
  data?: { tables: number; rows: number; verified: boolean; sequences?: number };
  providerIds: Record<string, string>;
  error?: { step: string; message: string };
}

type Api = (path: string, init?: RequestInit) => Promise<Response>;

export async function waitForDeployment(api: Api, id: string, done: (d: DeploymentJson) => boolean, timeoutMs = 240_000): Promise<DeploymentJson> {
  const deadline = Date.now() + timeoutMs;
  let last: DeploymentJson | undefined;
  while (Date.now() < deadline) {
    const res = await api(`/v1/deployments/${id}`).catch(() => undefined);
    if (res?.ok) last = ((await res.json()) as { deployment: DeploymentJson }).deployment;
    if (last && done(last)) return last;
    await Bun.sleep(200);
  }
  throw new Error(`deployment ${id} did not get there in ${timeoutMs} ms; last: ${JSON.stringify(last)}`);
}

export const finished = (d: DeploymentJson) => ["live", "failed", "removed"].includes(d.status);

/** A plain node:http app: answers with a marker, and with the row count of `notes` when it has a database. */
export function tinyApp(opts: { marker: string; build?: string } = { marker: "tiny" }): Record<string, string> {
  return {
    "package.json": JSON.stringify({ name: "tiny", version: "1.0.0", private: true, scripts: { start: "node server.js", ...(opts.build ? { build: opts.build } : {}) } }, null, 2),
    "server.js": `const http = require("node:http");
http.createServer((req, res) => res.end(${JSON.stringify(opts.marker)})).listen(Number(process.env.PORT) || 3000, "0.0.0.0");
`,
  };
}

/** Items with an owner (foreign key), a kind (enum), an index and a view: what a restore must carry. */
export const richSchema = {
  migrations: [
    "CREATE TYPE item_kind AS ENUM ('tool', 'part')",
    "CREATE TABLE owners (id serial PRIMARY KEY, name text NOT NULL UNIQUE)",
    "CREATE TABLE items (id serial PRIMARY KEY, name text NOT NULL, kind item_kind NOT NULL DEFAULT 'tool', owner_id int REFERENCES owners (id), added_at timestamptz NOT NULL DEFAULT now())",
    "CREATE INDEX items_name_idx ON items (name)",
    "CREATE VIEW item_names AS SELECT i.name, o.name AS owner FROM items i LEFT JOIN owners o ON o.id = i.owner_id",
  ],
  seed: "INSERT INTO owners (name) VALUES ('ada'), ('linus'); INSERT INTO items (name, kind, owner_id) SELECT 'item-' || g, (CASE WHEN g % 2 = 0 THEN 'part' ELSE 'tool' END)::item_kind, 1 + g % 2 FROM generate_series(1, 500) g",
};
