// Builds and runs an uploaded app the way Railway's builder (Railpack) does
// for a Node.js app, reduced to what previewd's promotions need: unpack the
// tarball `railway up` sent, install by lockfile (npm ci, else npm install),
// `npm run build --if-present`, then `npm start` (or node of package.json
// `main`) with PORT=8080 unless the service sets PORT. All of it runs in one
// container from the preview base image as uid 1000, never on the host.
import { chmodSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { failBuild, newDeployment, runDeployment, type DeployContext } from "./deploy.ts";
import type { Deployment, Environment, Project, Service } from "./state.ts";
import { log } from "./state.ts";
import { renderServiceVariables } from "./variables.ts";

const SOURCE_PATH = "/opt/fake-railway/source.tgz";
const BUILD_DONE = "@@fake-railway:build-done@@";
/** Railway injects PORT; its default for a service that does not set one is 8080 here (UNCONFIRMED for Railway). */
export const DEFAULT_PORT = 8080;

// set -e: any failing step fails the build, and the step's own output is in
// the build log above the exit code.
const SCRIPT = `set -e
cd /app
echo "==> Unpacking source"
tar -xzf ${SOURCE_PATH} --no-same-owner --no-same-permissions -m -C /app
if [ ! -f package.json ]; then
  echo "Error: no package.json at the root of the upload: fake Railway builds Node.js apps only" >&2
  exit 1
fi
if [ -f package-lock.json ] || [ -f npm-shrinkwrap.json ]; then
  echo "==> npm ci"
  npm ci --no-audit --no-fund
else
  echo "==> npm install"
  npm install --no-audit --no-fund
fi
echo "==> npm run build --if-present"
npm run build --if-present
echo "${BUILD_DONE}"
if node -e 'process.exit(require("/app/package.json").scripts?.start ? 0 : 1)'; then exec npm start; fi
exec node "$(node -p 'require("/app/package.json").main || "index.js"')"
`;

/** Keeps the uploaded tarball where the deployment's container can read it, and redeploys can reuse it. */
export function storeUpload(ctx: DeployContext, body: Uint8Array): string {
  const dir = join(ctx.dir, "uploads");
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  chmodSync(dir, 0o755);
  const path = join(dir, `${crypto.randomUUID()}.tgz`);
  writeFileSync(path, body, { mode: 0o644 });
  return path;
}

/** A new deployment of `tarball` for the service; it runs in the background. */
export function deployUpload(ctx: DeployContext, project: Project, env: Environment, service: Service, tarball: string): Deployment {
  const d = newDeployment(project, env, service, { kind: "upload", tarball });
  const vars = renderServiceVariables(project, env, service);
  const port = Number(vars.PORT) || DEFAULT_PORT;
  d.port = port;
  void runDeployment(ctx, project, service, d, {
    cmd: ["sh", "-c", SCRIPT],
    env: {
      ...vars,
      PORT: String(port),
      CI: "true",
      npm_config_cache: "/tmp/npm-cache",
      npm_config_update_notifier: "false",
      // npm's default back-off makes an unreachable registry a 75 s wait; fail in seconds instead.
      npm_config_fetch_retry_mintimeout: "1000",
      npm_config_fetch_retry_maxtimeout: "5000",
    },
    binds: [`${tarball}:${SOURCE_PATH}:ro`],
    buildDoneMarker: BUILD_DONE,
    // Railway's default healthcheck is "the port answers"; any HTTP response counts.
    ready: async (ip) => {
      await fetch(`http://${ip}:${port}/`, { signal: AbortSignal.timeout(1000), redirect: "manual" });
      return true;
    },
  });
  return d;
}

/** Redeploys whatever the service last ran (after a variable change), as Railway does unless skipDeploys. */
export function redeploySource(ctx: DeployContext, project: Project, env: Environment, service: Service): Deployment | undefined {
  const last = [...service.deployments].reverse().find((d) => d.environmentId === env.id);
  if (last?.source.kind === "upload") return deployUpload(ctx, project, env, service, last.source.tarball);
  return undefined;
}

/** A service created from an image or a repo the fake cannot fetch: its deployment fails with the reason. */
export function deployUnfetchable(project: Project, env: Environment, service: Service): Deployment {
  const image = service.source?.image;
  const d = newDeployment(project, env, service, image ? { kind: "image", image } : { kind: "repo", repo: service.source?.repo ?? "" });
  log(d.buildLogs, image ? `Using image ${image}` : `Cloning ${service.source?.repo}`);
  failBuild(d, image
    ? `fake Railway cannot pull images (no registry here); only ${"ghcr.io/railwayapp-templates/postgres-ssl"} services run`
    : "fake Railway cannot fetch repositories; deploy with an upload (railway up) instead");
  return d;
}
