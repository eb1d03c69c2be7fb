// Calls to a sibling's peer listener: remote API calls (signed, JSON in and
// out, the sibling's AppErrors re-raised here as they were) and the target a
// proxied request is forwarded to.
import { AppError, unavailable } from "../errors.ts";
import { PEER_HOST_HEADER, PEER_KIND_HEADER, sha256Hex, signHeaders } from "./signing.ts";
import type { ClusterView } from "./view.ts";
import type { SiblingHop } from "../proxy/fast/routes.ts";

export class PeerClient {
  private readonly hops: HopTargets;
  private readonly addrs = new Map<string, { addr: string; host: string; port: number }>();

  constructor(private readonly view: ClusterView, private readonly secret: string) {
    this.hops = new HopTargets(secret, view.self);
  }

  private addr(node: string): string {
    const addr = this.view.addrOf(node);
    if (!addr) throw unavailable(`Node ${node} is not reachable (not a live member of the cluster).`);
    return addr;
  }

  /** A control API call on `node`, as if made there. */
  async call(node: string, method: string, path: string, body?: unknown, signal?: AbortSignal): Promise<Response> {
    const addr = this.addr(node);
    const text = body === undefined ? "" : JSON.stringify(body);
    const signed = signHeaders(this.secret, this.view.self, "api", { to: node, method, target: path, bodySha256: sha256Hex(text) });
    let res: Response;
    try {
      res = await fetch(`http://${addr}${path}`, {
        method,
        headers: { ...signed, ...(body === undefined ? {} : { "content-type": "application/json" }) },
        body: body === undefined ? undefined : text,
        signal,
      });
    } catch (err) {
      throw unavailable(`Node ${node} did not answer: ${(err as Error).message}`);
    }
    if (res.status >= 400) throw await remoteError(res, node);
    return res;
  }

  async json<T>(node: string, method: string, path: string, body?: unknown): Promise<T> {
    return (await (await this.call(node, method, path, body)).json()) as T;
  }

  /**
   * The byte-level front's way to a preview on `node`: its peer port, the fields naming the preview, and
   * their signature for a connection's first request (later ones on it go unsigned: signing.ts).
   */
  hopTarget(node: string, host: string): HopTarget | undefined {
    const addr = this.addrOrUndefined(node);
    return addr && this.hops.get(node, addr.host, addr.port, host);
  }

  /** A live node's peer address (parsed once per address it has). */
  addrOrUndefined(node: string): { host: string; port: number } | undefined {
    const addr = this.view.addrOf(node);
    if (!addr) return undefined;
    const known = this.addrs.get(node);
    if (known?.addr === addr) return known;
    const i = addr.lastIndexOf(":");
    const parsed = { addr, host: addr.slice(0, i), port: Number(addr.slice(i + 1)) };
    this.addrs.set(node, parsed);
    return parsed;
  }

  /** Where the proxy sends a request for a preview on `node`: its peer port, signed for the Host. */
  proxyTarget(node: string, host: string): { host: string; port: number; headers: Record<string, string> } | undefined {
    const addr = this.view.addrOf(node);
    if (!addr) return undefined;
    const i = addr.lastIndexOf(":");
    return { host: addr.slice(0, i), port: Number(addr.slice(i + 1)), headers: signHeaders(this.secret, this.view.self, "proxy", { to: node, method: "", target: host }) };
  }
}

export type HopTarget = { host: string; port: number; hop: SiblingHop };

/**
 * Sibling hop targets, one per (node, preview host) for as long as the node's
 * address holds: a request to a sibling's preview allocates nothing here.
 */
export class HopTargets {
  private readonly byNode = new Map<string, { host: string; port: number; targets: Map<string, HopTarget> }>();

  constructor(private readonly secret: string, private readonly self: string) {}

  get(node: string, host: string, port: number, previewHost: string): HopTarget {
    let n = this.byNode.get(node);
    if (!n || n.host !== host || n.port !== port) this.byNode.set(node, (n = { host, port, targets: new Map() }));
    let t = n.targets.get(previewHost);
    if (!t) {
      if (n.targets.size >= 10_000) n.targets.clear(); // Host values are the client's: bounded
      t = { host, port, hop: siblingHop(this.secret, this.self, node, previewHost) };
      n.targets.set(previewHost, t);
    }
    return t;
  }
}

/** What the byte-level front adds to a request for `host` on `node`: the same fields every time, signed anew on each call of sign(). */
function siblingHop(secret: string, self: string, node: string, host: string): SiblingHop {
  return {
    fields: `${PEER_KIND_HEADER}: proxy\r\n${PEER_HOST_HEADER}: ${host}\r\n`,
    sign: () => signHeaders(secret, self, "proxy", { to: node, method: "", target: host }),
  };
}

async function remoteError(res: Response, node: string): Promise<AppError> {
  try {
    const { error } = (await res.json()) as { error: { code: string; message: string; details?: unknown } };
    return new AppError(error.code, res.status, error.message, error.details);
  } catch {
    return new AppError("peer_error", 502, `Node ${node} answered ${res.status}.`);
  }
}
