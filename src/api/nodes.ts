// Node operations on the control API: `POST /v1/nodes/{id}/drain` starts
// emptying a node before its removal and `GET` follows it. The API token
// only: scoped tokens name no route here (api/scoped.ts refuses them). Any
// node answers for any other (its own call goes over the peer listener).
import { Hono } from "hono";
import type { DrainStatus } from "../peer/drain.ts";

export type { DrainStatus } from "../peer/drain.ts";

export interface NodeService {
  /** Starts draining `node` (idempotent); its status now. */
  drain(node: string): Promise<DrainStatus>;
  drainStatus(node: string): Promise<DrainStatus>;
}

export function nodeRoutes(nodes: NodeService): Hono {
  const r = new Hono();
  r.post("/:id/drain", async (c) => c.json(await nodes.drain(c.req.param("id")), 202));
  r.get("/:id/drain", async (c) => c.json(await nodes.drainStatus(c.req.param("id"))));
  return r;
}
