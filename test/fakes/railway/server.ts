// The API origin (backboard): POST /graphql/v2 and the /up source upload.
// Auth follows Railway's docs (integrations/api.md): `Authorization: Bearer`
// or `Project-Access-Token`; a missing or unknown token gets Railway's
// "Not Authorized" at HTTP 200, as does every field for a token without
// access. Faults are applied here, before a request runs.
import { GraphQLError } from "graphql";
import type { DeployContext } from "./deploy.ts";
import { faultResponse, type Faults } from "./faults.ts";
import { body, prepare, run, type GraphQLRequest } from "./graphql.ts";
import type { Resources } from "./resources.ts";
import { rootValue } from "./resolvers.ts";
import { handleUpload, isUploadPath } from "./upload.ts";

export interface ServerOptions {
  token: string;
  noAccessToken: string;
  faults: Faults;
  calls: Array<{ op: string; at: number; fault?: string }>;
  maxUploadBytes: number;
  port?: number;
}

interface RequestContext {
  access: boolean;
  /** Root fields to fail with an injected GraphQL error, and its message. */
  failing: Map<string, string>;
}

const NOT_AUTHORIZED = { data: null, errors: [{ message: "Not Authorized" }] };

/** Every root resolver first checks access and injected errors, so both come out with graphql-js's path. */
function guarded(root: Record<string, (args: Record<string, unknown>) => unknown>) {
  const out: Record<string, unknown> = {};
  for (const [name, fn] of Object.entries(root))
    out[name] = (args: Record<string, unknown>, ctx: RequestContext) => {
      if (!ctx.access) throw new GraphQLError("Not Authorized");
      const injected = ctx.failing.get(name);
      if (injected !== undefined) throw new GraphQLError(injected);
      return fn(args);
    };
  return out;
}

export function startApiServer(ctx: DeployContext, resources: Resources, o: ServerOptions): { url: string; stop: () => void } {
  const root = guarded(rootValue(resources));
  const tokenOf = (req: Request) => req.headers.get("authorization")?.match(/^Bearer\s+(.+)$/i)?.[1]?.trim() ?? req.headers.get("project-access-token")?.trim();

  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: o.port ?? 0,
    idleTimeout: 120, // uploads answer only after the body is stored
    maxRequestBodySize: o.maxUploadBytes * 2, // the handler itself answers 413 past the cap
    async fetch(req) {
      const url = new URL(req.url);
      const token = tokenOf(req);
      const known = token === o.token || token === o.noAccessToken;

      if (req.method === "POST" && isUploadPath(url.pathname)) {
        if (!known) return Response.json({ message: "Not Authorized" }, { status: 401 });
        if (token === o.noAccessToken) return Response.json({ message: "Not Authorized" }, { status: 403 });
        const fault = o.faults.take("upload");
        o.calls.push({ op: "upload", at: Date.now(), ...(fault && { fault: fault.kind }) });
        if (fault?.kind === "graphql_error") return Response.json({ message: fault.message }, { status: 400 });
        if (fault) return faultResponse(fault);
        return handleUpload(ctx, req, url, { maxBytes: o.maxUploadBytes, origin: url.origin });
      }

      if (url.pathname !== "/graphql/v2") return new Response("Not Found", { status: 404 });
      if (req.method !== "POST") return new Response("Method Not Allowed", { status: 405, headers: { Allow: "POST" } });
      if (!known) return Response.json(NOT_AUTHORIZED);
      let payload: GraphQLRequest;
      try {
        payload = (await req.json()) as GraphQLRequest;
      } catch {
        return Response.json({ data: null, errors: [{ message: "Body must be JSON: {query, variables, operationName}" }] }, { status: 400 });
      }
      const prepared = prepare(payload ?? {});
      if (!prepared.ok) return Response.json(body(prepared.result));

      const context: RequestContext = { access: token === o.token, failing: new Map() };
      let transport: Response | undefined;
      for (const op of prepared.rootFields) {
        const fault = o.faults.take(op);
        o.calls.push({ op, at: Date.now(), ...(fault && { fault: fault.kind }) });
        if (fault?.kind === "graphql_error") context.failing.set(op, fault.message);
        else if (fault) transport ??= faultResponse(fault);
      }
      if (transport) return transport;
      return Response.json(body(await run(prepared, root, context)));
    },
  });
  return { url: `http://127.0.0.1:${server.port}`, stop: () => void server.stop(true) };
}
