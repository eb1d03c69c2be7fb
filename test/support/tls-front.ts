// A TLS terminator in front of a daemon's proxy port, for browser tests of
// previews on https at a real-looking domain (as behind nginx in production):
// a self-signed certificate for *.DOMAIN (openssl, made per run) and raw
// bytes relayed both ways, so HTTP/1.1 keep-alive and WebSocket upgrades
// (Vite's HMR) pass as they are. Chromium needs --ignore-certificate-errors
// and --host-resolver-rules=MAP *.DOMAIN 127.0.0.1.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { connect, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createServer } from "node:tls";

export interface TlsFront {
  port: number;
  /** Where connections go; set once the daemon listens (the front starts first so the daemon's URL template can carry its port). */
  target: { port: number };
  stop(): void;
}

export async function startTlsFront(domain: string): Promise<TlsFront> {
  const dir = mkdtempSync(join(tmpdir(), "previewd-tls-"));
  const openssl = Bun.spawnSync(
    ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", `/CN=${domain}`, "-addext", `subjectAltName=DNS:*.${domain},DNS:${domain}`, "-keyout", join(dir, "key.pem"), "-out", join(dir, "cert.pem")],
    { stderr: "pipe" },
  );
  if (openssl.exitCode !== 0) throw new Error(`openssl req failed: ${openssl.stderr.toString()}`);
  const key = readFileSync(join(dir, "key.pem"));
  const cert = readFileSync(join(dir, "cert.pem"));
  rmSync(dir, { recursive: true, force: true });
  const target = { port: 0 };
  const open = new Set<Socket>();
  const server = createServer({ key, cert }, (client) => {
    const upstream = connect(target.port, "127.0.0.1");
    open.add(client).add(upstream);
    const close = () => (client.destroy(), upstream.destroy(), open.delete(client), open.delete(upstream));
    client.on("error", close).on("close", close);
    upstream.on("error", close).on("close", close);
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as { port: number }).port;
  return {
    port,
    target,
    stop() {
      server.close();
      for (const s of open) s.destroy();
    },
  };
}
