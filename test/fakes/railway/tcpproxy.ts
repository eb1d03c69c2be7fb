// Railway's TCP proxy (docs networking/tcp-proxy.md): a public host:port that
// forwards raw TCP to one port of a service. Here it is a real TCP relay on
// 127.0.0.1, so host-side tools (postgres.js, pg_dump, pg_restore) connect
// exactly as they would to `roundhouse.proxy.rlwy.net:11105`. The target
// address is looked up per connection: a redeploy moves the service to a new
// container with a new address, and the proxy follows it as Railway's does.
import { createServer, connect, type Socket } from "node:net";

export interface RelayHandle {
  port: number;
  close: () => Promise<void>;
}

/** Listens on a free loopback port and relays each connection to `target()`:applicationPort. */
export async function startRelay(target: () => Promise<string | undefined>, applicationPort: number): Promise<RelayHandle> {
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    sockets.add(client);
    client.on("close", () => sockets.delete(client));
    client.on("error", () => client.destroy());
    client.pause(); // hold the client's first bytes until the upstream is connected
    void target().then((host) => {
      if (!host) return client.destroy(); // nothing running: the connection is refused, as on Railway
      const upstream = connect({ host, port: applicationPort });
      sockets.add(upstream);
      upstream.on("close", () => {
        sockets.delete(upstream);
        client.destroy();
      });
      upstream.on("error", () => upstream.destroy());
      client.on("close", () => upstream.destroy());
      upstream.on("connect", () => {
        client.pipe(upstream);
        upstream.pipe(client);
        client.resume();
      });
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const address = server.address();
  if (!address || typeof address === "string") throw new Error("TCP proxy did not get a port");
  return {
    port: address.port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
