// Debian's nginx as the reference proxy, configured like a careful operator
// would: upstream keep-alive (64 idle connections), HTTP/1.1 to the upstream
// with the Connection header cleared (else nginx sends "close" and reconnects
// every time), WebSocket upgrades passed through, no access log, and as many
// worker processes as previewd runs processes: previewd is one Bun process,
// so one worker; proxy buffers sized for 1 MiB bodies. Its config and temp
// files live in a temp dir; nginx runs in the foreground as our child
// process and is stopped with it.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Subprocess } from "bun";

export interface Nginx {
  port: number;
  /** The master's pid (its worker is a child: see procstat.processTree). */
  pid: number;
  stop(): Promise<void>;
}

export function nginxConfig(dir: string, upstream: string, port: number, workers = 1): string {
  return `
worker_processes ${workers};
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  upstream app { server ${upstream}; keepalive 64; }
  # "Connection: upgrade" for WebSocket handshakes, and an empty Connection
  # (keep-alive to the upstream) for everything else.
  map $http_upgrade $connection_upgrade { default upgrade; "" ""; }
  server {
    listen 127.0.0.1:${port};
    location / {
      proxy_pass http://app;
      proxy_http_version 1.1;
      proxy_set_header Connection $connection_upgrade;
      proxy_set_header Upgrade $http_upgrade;
      proxy_set_header Host $host;
      # the same forwarding headers previewd adds, so both do the same header work
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Host $host;
      proxy_set_header X-Forwarded-Proto $scheme;
      proxy_read_timeout 120s;
      # Larger buffers than the default 8 x 4k: in one run 1 MiB responses went
      # from 1021 to 1332 req/s with them (small ones unchanged); the reference
      # should be nginx at its best, not at its defaults.
      proxy_buffers 16 64k;
      proxy_busy_buffers_size 128k;
    }
  }
}
`;
}

export async function startNginx(upstream: string, port: number, workers = 1): Promise<Nginx> {
  if (!Bun.which("nginx")) throw new Error("nginx is not installed (apt-get install -y nginx; scripts/bench/run does it)");
  const dir = mkdtempSync(join(tmpdir(), "previewd-nginx-"));
  writeFileSync(join(dir, "nginx.conf"), nginxConfig(dir, upstream, port, workers));
  const proc: Subprocess = Bun.spawn(["nginx", "-p", dir, "-c", join(dir, "nginx.conf"), "-g", "daemon off;"], { stdout: "ignore", stderr: "inherit" });
  const stop = async () => {
    proc.kill("SIGQUIT");
    const timer = setTimeout(() => proc.kill("SIGKILL"), 5000);
    await proc.exited;
    clearTimeout(timer);
    rmSync(dir, { recursive: true, force: true });
  };
  for (let i = 0; ; i++) {
    if (proc.exitCode !== null || i === 100) {
      const log = (() => { try { return readFileSync(join(dir, "error.log"), "utf8"); } catch { return ""; } })();
      await stop();
      throw new Error(`nginx did not start: ${log}`);
    }
    try {
      await (await fetch(`http://127.0.0.1:${port}/`)).arrayBuffer();
      break;
    } catch {
      await Bun.sleep(50);
    }
  }
  return { port, pid: proc.pid, stop };
}
