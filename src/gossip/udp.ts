// Gossip over UDP on the peer port (the TCP side of the same number is the
// peer HTTP listener). One datagram per message; messages stay well under
// the 1400-byte path MTU budget except full-state syncs, which loopback and
// LAN carry as fragmented datagrams up to 64 KB.
import type { Transport } from "./transport.ts";

export async function udpTransport(host: string, port: number, advertise?: string): Promise<Transport> {
  let handler: (from: string, bytes: Uint8Array) => void = () => {};
  const socket = await Bun.udpSocket({
    hostname: host,
    port,
    socket: {
      data(_s, data, peerPort, peerAddr) {
        handler(`${peerAddr}:${peerPort}`, data);
      },
      // A datagram to a node that is down comes back as "port unreachable":
      // that is what probes are for, not an error of ours.
      error() {},
    },
  });
  return {
    addr: `${advertise ?? host}:${socket.port}`,
    send(to, bytes) {
      const i = to.lastIndexOf(":");
      try {
        socket.send(bytes, Number(to.slice(i + 1)), to.slice(0, i));
      } catch {
        // ECONNREFUSED from an earlier datagram to a dead node: the probe will notice; UDP is best effort.
      }
    },
    onMessage(h) {
      handler = h;
    },
    async close() {
      socket.close();
    },
  };
}
