// The Installer that runs installs in the sandbox: a container with the
// preview's confinement (uid 1000, no capabilities, memory and pids limits,
// the preview network), never on the host and never in the daemon. Its only
// writable mount is its own staging directory, seen at the same path
// (DEPS_MOUNT/<key>) the previews later see the sealed entry at, so absolute
// paths a package manager writes (pnpm's .bin shims) stay valid.
import { DEPS_MOUNT, IMAGE_PATH } from "../pool/docker.ts";
import type { Runtime } from "../pool/index.ts";
import type { Installer } from "./cache.ts";

export interface SandboxInstallerOptions {
  timeoutMs: number;
  /** A registry to use instead of the lockfile's (a mirror); unset: the lockfile's. */
  registry?: string;
}

export function sandboxInstaller(runtime: Runtime, o: SandboxInstallerOptions): Installer {
  const env: Record<string, string> = {
    HOME: "/tmp/home",
    npm_config_cache: "/tmp/npm-cache",
    npm_config_update_notifier: "false",
    // npm's default back-off (10 s to 60 s) makes an unreachable registry a 75 s wait; fail in ~6 s.
    npm_config_fetch_retry_mintimeout: "1000",
    npm_config_fetch_retry_maxtimeout: "5000",
    // Non-interactive everywhere (pnpm and yarn ask questions otherwise).
    CI: "true",
    // corepack (a packageManager of another pnpm/yarn major) checks npm's registry signatures of the
    // manager it downloads; a registry mirror (as on the machines this is tested on) serves none, and
    // corepack then refuses every download. The lockfile's integrity hashes, and the packageManager
    // field's own hash where it has one, are still checked.
    COREPACK_INTEGRITY_KEYS: "0",
    COREPACK_ENABLE_DOWNLOAD_PROMPT: "0",
  };
  if (o.registry) Object.assign(env, { npm_config_registry: o.registry, YARN_REGISTRY: o.registry, NPM_CONFIG_REGISTRY: o.registry });
  return {
    run: ({ plan, hostDir, tmpDir, onOutput, signal }) =>
      runtime.runJob({
        role: "install",
        cmd: plan.command,
        workdir: `${DEPS_MOUNT}/${plan.key}`,
        binds: [`${hostDir}:${DEPS_MOUNT}/${plan.key}`],
        tmpDir,
        env: plan.nodeBin ? { ...env, PATH: `${plan.nodeBin}:${IMAGE_PATH}` } : env,
        timeoutMs: o.timeoutMs,
        onOutput,
        signal,
      }),
  };
}
