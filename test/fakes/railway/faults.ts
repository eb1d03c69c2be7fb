// Injected failures, so a client's error handling can be tested against the
// shapes Railway really produces: a GraphQL error at HTTP 200, a 429 with
// Retry-After (railwayapp/cli: "Backboard sets Retry-After on every 429"),
// or a plain 500 from something in front of the API. A fault is armed for
// the next `times` calls of one operation (a root field name, or "upload")
// and is consumed as it fires.

export type Fault =
  | { kind: "graphql_error"; message: string }
  | { kind: "rate_limit"; retryAfter: number }
  | { kind: "http_500" };

export class Faults {
  private readonly armed = new Map<string, Array<{ fault: Fault; left: number }>>();

  arm(op: string, fault: Fault, times = 1): void {
    if (times <= 0) return;
    const list = this.armed.get(op) ?? [];
    list.push({ fault, left: times });
    this.armed.set(op, list);
  }

  /** The fault to apply to this call of `op`, if any (and counts it down). */
  take(op: string): Fault | undefined {
    const list = this.armed.get(op);
    const head = list?.[0];
    if (!list || !head) return undefined;
    if (--head.left <= 0) list.shift();
    if (list.length === 0) this.armed.delete(op);
    return head.fault;
  }

  /** The first armed fault among a request's root fields, without consuming anything. */
  peek(ops: string[]): { op: string; fault: Fault } | undefined {
    for (const op of ops) {
      const head = this.armed.get(op)?.[0];
      if (head) return { op, fault: head.fault };
    }
    return undefined;
  }
}

/** The HTTP answer for a transport-level fault (the GraphQL kind is raised by the resolver instead). */
export function faultResponse(fault: Exclude<Fault, { kind: "graphql_error" }>): Response {
  if (fault.kind === "rate_limit")
    return Response.json(
      { errors: [{ message: "Rate limit exceeded. Please try again later." }] },
      { status: 429, headers: { "Retry-After": String(fault.retryAfter), "X-RateLimit-Remaining": "0" } },
    );
  return new Response("Internal Server Error", { status: 500, headers: { "Content-Type": "text/plain" } });
}
