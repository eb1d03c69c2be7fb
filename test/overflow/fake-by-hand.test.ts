// `scripts/fake fly` as a person uses it (issue 26): run it, give a daemon
// exactly the settings it prints, and a Fly preview runs. It printed no
// FLY_IMAGE, so the daemon asked the fake for registry.fly.io/<app>:preview-base
// and every machine failed with "failed to get image".
import { afterAll, expect, test } from "bun:test";
import { join } from "node:path";
import { echoApp } from "../fixtures/apps.ts";
import { createPreview, startTestDaemon, type TestDaemon } from "../support/daemon.ts";
import { ensureBaseImage } from "../support/docker.ts";

const ROOT = join(import.meta.dir, "..", "..");
let fake: ReturnType<typeof Bun.spawn> | undefined;
let d: TestDaemon | undefined;

afterAll(async () => {
  await d?.cleanup();
  if (fake) {
    fake.kill("SIGTERM"); // it removes its machines' containers, then exits
    await fake.exited;
  }
});

/** Starts `scripts/fake fly` and returns the KEY=value lines it printed, once it says it is up. */
async function startFake(image: string): Promise<Record<string, string>> {
  const proc = Bun.spawn([join(ROOT, "scripts/fake"), "fly"], { env: { ...process.env, PREVIEWD_IMAGE: image }, stdout: "pipe", stderr: "pipe" });
  fake = proc;
  let out = "";
  let err = "";
  const pump = async (s: ReadableStream<Uint8Array>, add: (t: string) => void) => {
    for await (const c of s) add(new TextDecoder().decode(c));
  };
  void pump(proc.stdout as ReadableStream<Uint8Array>, (t) => (out += t));
  const errDone = pump(proc.stderr as ReadableStream<Uint8Array>, (t) => (err += t));
  const deadline = Date.now() + 30_000;
  // The stderr banner comes after every stdout line.
  while (!err.includes("Ctrl-C stops") && Date.now() < deadline && proc.exitCode === null) await Promise.race([errDone, Bun.sleep(50)]);
  if (!err.includes("Ctrl-C stops")) throw new Error(`scripts/fake fly did not come up: ${err}`);
  return Object.fromEntries(out.trim().split("\n").map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]));
}

test("scripts/fake fly prints every setting a daemon needs, FLY_IMAGE included, and a daemon given them runs a Fly preview", async () => {
  const image = await ensureBaseImage();
  const printed = await startFake(image);
  expect(Object.keys(printed).sort()).toEqual(["FLY_API_TOKEN", "FLY_API_URL", "FLY_APP", "FLY_EDGE_URL", "FLY_IMAGE"]);
  expect(printed.FLY_IMAGE).toBe(image);
  d = await startTestDaemon({ ...printed, PREVIEWD_WARM_POOL: "0" });
  const p = (await createPreview(d, { files: echoApp, tier: "fly" })) as { id: string; status: string; tier?: string; error?: string };
  expect({ status: p.status, tier: p.tier, error: p.error }).toEqual({ status: "running", tier: "fly", error: undefined });
  const res = await d.preview(p.id, "/hello");
  expect(res.status).toBe(200);
}, 180_000);
