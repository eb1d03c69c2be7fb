// Which port does the app serve on? Dev servers ignore PORT (Vite listens on
// localhost:5173), full-stack dev scripts start two servers, and some bind
// only to loopback. The runner reads the answer off the kernel: every
// listening TCP socket of this network namespace (/proc/net/tcp{,6}), and
// which process owns it (/proc/<pid>/fd), then picks by a fixed rule:
//   1. the order's explicit port, once something listens on it;
//   2. else a port owned by a known front-end dev server (the page people
//      want to see; it proxies the API itself), waiting up to 20 s for one
//      that is starting but not yet listening;
//   3. else PORT (the hint every app gets), if something listens on it;
//   4. else, after 2 s without one, the first port seen listening.
// Docker's embedded DNS listens on 127.0.0.11 in every container: not the app.
import { readdirSync, readFileSync, readlinkSync } from "node:fs";
import { createConnection, createServer } from "node:net";
import { networkInterfaces } from "node:os";

const LISTEN = "0A";
const DEV_SERVER = /node_modules\/(\.bin\/)?(vite|next|nuxt|astro|webpack|webpack-dev-server|react-scripts|parcel|rsbuild|@remix-run\/dev)\b|next-server|\bvite\b/;
const DEV_SERVER_GRACE_MS = 20_000;
const OTHER_PORT_GRACE_MS = 2_000;
const DOCKER_DNS = "127.0.0.11";
const firstSeen = new Map();

function decodeAddress(hex, v6) {
  if (!v6) return hex.match(/../g).reverse().map((b) => parseInt(b, 16)).join(".");
  // Four little-endian 32-bit words.
  const words = hex.match(/.{8}/g).map((w) => w.match(/../g).reverse().join(""));
  return words.join("").match(/.{4}/g).map((g) => g.replace(/^0+(?=.)/, "")).join(":");
}

/** Every listening socket: port, address, whether it is loopback-only, and its inode. */
export function listeners() {
  const out = [];
  for (const [file, v6] of [["/proc/net/tcp", false], ["/proc/net/tcp6", true]]) {
    let text;
    try {
      text = readFileSync(file, "utf8");
    } catch {
      continue;
    }
    for (const line of text.split("\n").slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 10 || f[3] !== LISTEN) continue;
      const [addrHex, portHex] = f[1].split(":");
      const addr = decodeAddress(addrHex, v6);
      const loopback = addr.startsWith("127.") || addr === "0:0:0:0:0:0:0:1" || addr === "0:0:0:0:0:ffff:7f00:1";
      out.push({ port: parseInt(portHex, 16), addr, v6, loopback, inode: f[9] });
    }
  }
  return out;
}

/** socket inode -> command line of the process holding it (all processes here are the app's). */
function socketOwners() {
  const owners = new Map();
  const cmdlines = [];
  for (const pid of readdirSync("/proc").filter((p) => /^\d+$/.test(p))) {
    let cmd;
    try {
      cmd = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").join(" ");
    } catch {
      continue;
    }
    cmdlines.push(cmd);
    let fds = [];
    try {
      fds = readdirSync(`/proc/${pid}/fd`);
    } catch {}
    for (const fd of fds) {
      try {
        const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
        if (m) owners.set(m[1], cmd);
      } catch {}
    }
  }
  return { owners, cmdlines };
}

/** The port to route to now, or undefined while there is none yet. */
export function appPort(order, startedAt, controlPort) {
  const byPort = new Map();
  for (const l of listeners()) {
    if (l.port === controlPort || l.port === order.servePort || l.addr === DOCKER_DNS) continue;
    const seen = byPort.get(l.port);
    // Reachable from outside if any socket on it is not loopback-only.
    if (seen) seen.loopbackOnly &&= l.loopback;
    else byPort.set(l.port, { port: l.port, loopbackOnly: l.loopback, loopbackHost: l.v6 ? "::1" : "127.0.0.1", inode: l.inode });
    if (!firstSeen.has(l.port)) firstSeen.set(l.port, Date.now());
  }
  const ports = [...byPort.values()].sort((a, b) => firstSeen.get(a.port) - firstSeen.get(b.port));
  if (order.port) return byPort.get(order.port);
  if (ports.length === 0) return undefined;
  const { owners, cmdlines } = socketOwners();
  const dev = ports.find((p) => DEV_SERVER.test(owners.get(p.inode) ?? ""));
  if (dev) return dev;
  const devStarting = cmdlines.some((c) => DEV_SERVER.test(c));
  if (devStarting && Date.now() - startedAt < DEV_SERVER_GRACE_MS) return undefined;
  if (byPort.has(order.portHint)) return byPort.get(order.portHint);
  return Date.now() - startedAt >= OTHER_PORT_GRACE_MS ? ports[0] : undefined;
}

const relays = new Map();

function containerAddress() {
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) if (a.family === "IPv4" && !a.internal) return a.address;
  }
  return undefined;
}

/**
 * Listens on the container's own address at `port` and pipes each connection
 * to the app's loopback socket (a different address, so no conflict with the
 * app's bind). Bytes only: HTTP, keep-alive and WebSocket pass as they are.
 */
export function ensureRelay(port, loopbackHost) {
  if (relays.has(port)) return relays.get(port);
  const host = containerAddress();
  if (!host) return Promise.resolve();
  const ready = new Promise((resolve) => {
    const server = createServer((inbound) => {
      const outbound = createConnection({ host: loopbackHost, port });
      inbound.pipe(outbound).pipe(inbound);
      const close = () => {
        inbound.destroy();
        outbound.destroy();
      };
      inbound.on("error", close);
      outbound.on("error", close);
    });
    server.on("error", (e) => {
      // The app bound this address itself after all: it is reachable without us.
      if (e.code !== "EADDRINUSE") console.error(`[previewd] relay for port ${port}: ${e.message}`);
      relays.delete(port);
      resolve();
    });
    server.listen({ host, port }, resolve);
  });
  relays.set(port, ready);
  return ready;
}
