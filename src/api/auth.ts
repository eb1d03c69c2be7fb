// Bearer token check, in constant time so the token cannot be guessed byte by byte.
import { timingSafeEqual } from "node:crypto";
import type { MiddlewareHandler } from "hono";
import { unauthorized } from "../errors.ts";

export function bearerAuth(token: string): MiddlewareHandler {
  const expected = Buffer.from(token);
  return async (c, next) => {
    const header = c.req.header("authorization") ?? "";
    const m = /^Bearer\s+(.+)$/i.exec(header);
    const given = Buffer.from(m?.[1]?.trim() ?? "");
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) throw unauthorized();
    await next();
  };
}
