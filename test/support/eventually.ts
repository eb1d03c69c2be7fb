// Waiting on a condition, not a clock: polls `fn` until `ok` says so, with a
// generous bound, and says what it last saw when the bound passes (tests must
// hold on a cold, busy machine).
export async function eventually<T>(what: string, fn: () => Promise<T>, ok: (v: T) => boolean, ms: number, everyMs = 100): Promise<T> {
  const deadline = Date.now() + ms;
  let last: T | undefined;
  let lastErr: unknown;
  while (Date.now() < deadline) {
    try {
      last = await fn();
      if (ok(last)) return last;
    } catch (err) {
      lastErr = err; // errors count as "not yet"
    }
    await Bun.sleep(everyMs);
  }
  throw new Error(`${what}: not within ${ms} ms (last: ${JSON.stringify(last)}${lastErr ? `, last error: ${String(lastErr)}` : ""})`);
}
