// The in-container runner's control port (docker/runner/runner.mjs), spoken
// over HTTP on the container's address: whether it waits for an order, the
// start and restart orders, and the port the app serves on. The same for any
// engine that runs the base image (RunnerControl in runtime.ts).
import { CONTROL_PORT, type ContainerState, type RunnerControl, type StartOrder } from "./runtime.ts";

export class HttpRunnerControl implements RunnerControl {
  /** The runner answers its control port once node has started (~100 ms). */
  async waitUntilIdle(state: ContainerState, timeoutMs = 15_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (await this.isIdle(state)) return;
      await Bun.sleep(15);
    }
    throw new Error(`runner in ${state.containerId.slice(0, 12)} did not answer within ${timeoutMs} ms`);
  }

  async isIdle(state: ContainerState): Promise<boolean> {
    try {
      const res = await fetch(`http://${state.ip}:${CONTROL_PORT}/health`, { signal: AbortSignal.timeout(500) });
      return res.ok && ((await res.json()) as { state?: string }).state === "idle";
    } catch {
      return false;
    }
  }

  async startApp(state: ContainerState, order: StartOrder): Promise<void> {
    const res = await fetch(`http://${state.ip}:${CONTROL_PORT}/start`, {
      method: "POST",
      body: JSON.stringify(order),
      signal: AbortSignal.timeout(5000),
    });
    if (!res.ok) throw new Error(`runner refused the start order: ${res.status} ${await res.text()}`);
  }

  /** Asks the runner which port the app serves on (undefined while none yet). */
  async appPort(state: ContainerState): Promise<number | undefined> {
    try {
      const res = await fetch(`http://${state.ip}:${CONTROL_PORT}/status`, { signal: AbortSignal.timeout(1000) });
      const body = (await res.json()) as { port?: number | null };
      return typeof body.port === "number" ? body.port : undefined;
    } catch {
      return undefined;
    }
  }

  /** A new start order for a running app (its dependencies changed): the runner restarts it in place. */
  async restartApp(state: ContainerState, order: StartOrder): Promise<void> {
    const res = await fetch(`http://${state.ip}:${CONTROL_PORT}/restart`, { method: "POST", body: JSON.stringify(order), signal: AbortSignal.timeout(10_000) });
    if (!res.ok) throw new Error(`runner refused the restart: ${res.status} ${await res.text()}`);
  }
}
