// Railway's HTTP edge, on one loopback port: the Host header picks the
// service (its *.up.railway.app domain) and the request goes to that
// service's live deployment. Unknown hosts get a 404, a known service with
// nothing running a 502 "Application failed to respond" (Railway's page).
import type { FakeDocker } from "./docker.ts";
import { activeDeployment, type State } from "./state.ts";

// Hop-by-hop headers (RFC 9110 §7.6.1) are not forwarded.
const HOP = ["connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade", "te", "trailer"];

export function startEdge(state: State, docker: FakeDocker): { url: string; stop: () => void } {
  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    idleTimeout: 60,
    async fetch(req) {
      const url = new URL(req.url);
      const host = (req.headers.get("host") ?? "").replace(/:\d+$/, "").toLowerCase();
      const found = state.serviceByDomain(host);
      if (!found) return new Response("Not Found: no service answers this host\n", { status: 404, headers: { "Content-Type": "text/plain" } });
      const d = activeDeployment(found.service);
      const ip = d?.containerId ? await docker.ip(d.containerId) : undefined;
      if (!d || !ip) return new Response("Application failed to respond\n", { status: 502, headers: { "Content-Type": "text/plain" } });
      const domain = found.service.domains.find((x) => x.domain === host);
      const port = domain?.targetPort ?? d.port ?? 8080;
      const headers = new Headers(req.headers);
      for (const h of HOP) headers.delete(h);
      headers.set("x-forwarded-proto", "https");
      headers.set("x-forwarded-host", host);
      const requestId = crypto.randomUUID();
      headers.set("x-railway-request-id", requestId);
      try {
        const res = await fetch(`http://${ip}:${port}${url.pathname}${url.search}`, {
          method: req.method,
          headers,
          body: req.method === "GET" || req.method === "HEAD" ? undefined : await req.arrayBuffer(),
          redirect: "manual",
          // Bun decompresses by default; the client should see the app's bytes as sent.
          decompress: false,
        } as RequestInit);
        const out = new Headers(res.headers);
        out.set("x-railway-request-id", requestId);
        out.set("server", "railway-edge");
        return new Response(res.body, { status: res.status, headers: out });
      } catch {
        return new Response("Application failed to respond\n", { status: 502, headers: { "Content-Type": "text/plain" } });
      }
    },
  });
  return { url: `http://127.0.0.1:${server.port}`, stop: () => void server.stop(true) };
}
