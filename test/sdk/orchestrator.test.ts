// The hook's state machine (Orchestrator) without React, against a real
// daemon: the default path where the client itself can create (a server-side
// context with the API token), autoCreate: false, coalesced updates, and a
// create that fails.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { createClient, type PreviewdClient } from "../../sdk/src/index.ts";
import { Orchestrator, type OrchestratorOptions } from "../../sdk/src/orchestrator.ts";
import { startTestDaemon, type TestDaemon } from "../support/daemon.ts";
import { messageApp, until } from "./app.ts";

let d: TestDaemon;
let admin: PreviewdClient;
let patches = 0;

beforeAll(async () => {
  d = await startTestDaemon({ PREVIEWD_WARM_POOL: "1" });
  // Counts PATCHes so coalescing can be checked; the requests themselves go to the daemon unchanged.
  admin = createClient({
    baseUrl: `http://127.0.0.1:${d.apiPort}`,
    token: d.token,
    fetch: (input, init) => {
      if (init?.method === "PATCH") patches++;
      return fetch(input, init);
    },
  });
}, 180_000);
afterAll(() => d?.cleanup(), 60_000);

function mount(o: Partial<OrchestratorOptions> = {}) {
  const orch = new Orchestrator({ client: admin, files: messageApp("orchestrated v1"), debounceMs: 200, ...o });
  const statuses: string[] = [];
  orch.subscribe(() => statuses.at(-1) !== orch.getSnapshot().status && statuses.push(orch.getSnapshot().status));
  return { orch, statuses, state: () => orch.getSnapshot() };
}

test("autoCreate: false waits for create(); updates coalesce into one PATCH; destroy deletes", async () => {
  const { orch, statuses, state } = mount({ autoCreate: false });
  orch.attach();
  await Bun.sleep(500);
  expect(state().status).toBe("idle");

  const [a, b] = await Promise.all([orch.create(), orch.create()]);
  expect(a).toBe(b);
  await until("running", () => state().status === "running", 60_000);
  expect(statuses.slice(0, 1)).toEqual(["creating"]);

  const before = patches;
  orch.update({ "message.txt": "step 1" });
  orch.update({ "message.txt": "step 2", "other.txt": "o" });
  orch.update({}, { delete: ["other.txt"] });
  expect(state().pending).toBe(true);
  await until("the update to be applied", () => state().revision === 1 && !state().pending, 30_000);
  expect(patches - before).toBe(1);
  await until("the app to show it", async () => (await (await d.preview(a.id)).text()).includes("step 2"));

  await orch.destroy();
  expect(state().status).toBe("deleted");
  const gone = await admin.previews.get(a.id).then(() => "still there", (e: { code?: string }) => e.code);
  expect(gone).toBe("not_found");
  orch.detach();
}, 180_000);

test("a create the daemon refuses leaves status failed with the PreviewdError, and no preview", async () => {
  const { orch, state } = mount({ files: { "../escape.txt": "x" } });
  orch.attach();
  await until("failed", () => state().status === "failed", 30_000);
  expect((state().error as { code?: string }).code).toBe("invalid_path");
  expect(state().preview).toBeNull();
  orch.detach();
}, 60_000);
