// The app the SDK tests run: node:http with no dependencies (no install, up in
// about a second). It reads message.txt on every request, so a PATCH shows
// on the next request without a restart or a file watcher.
export function messageApp(message: string): Record<string, string> {
  return {
    "package.json": JSON.stringify({ name: "sdk-test-app", private: true, scripts: { start: "node server.js" } }),
    "message.txt": message,
    "server.js": `const http = require("node:http");
const fs = require("node:fs");
const path = require("node:path");
http.createServer((req, res) => {
  const msg = fs.readFileSync(path.join(__dirname, "message.txt"), "utf8");
  res.setHeader("content-type", "text/html; charset=utf-8");
  res.setHeader("cache-control", "no-store");
  res.end('<!doctype html><h1 id="msg">' + msg + '</h1>');
}).listen(Number(process.env.PORT) || 3000, "0.0.0.0", () => console.log("sdk-test-app listening on " + process.env.PORT));
`,
  };
}

/** Polls until `check` returns a value (not undefined/false), or fails after `timeoutMs`. */
export async function until<T>(what: string, check: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs = 60_000, everyMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await Bun.sleep(everyMs);
  }
}
