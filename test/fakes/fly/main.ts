// `scripts/fake fly`: runs the fake Fly in the foreground on free loopback
// ports (or FAKE_FLY_API_PORT / FAKE_FLY_EDGE_PORT) and prints the settings a
// daemon needs (FLY_IMAGE included), one per line on stdout; everything else goes to stderr.
// Ctrl-C (or SIGTERM) removes every container it made.
import Docker from "dockerode";
import { startFakeFly } from "./index.ts";

// The fake runs local images only (no registry here): machines use the preview
// base image as scripts/build-base-image tags it, so a daemon given these
// lines runs Fly previews (without FLY_IMAGE it asks for
// registry.fly.io/<app>:preview-base, which no engine here has).
const image = process.env.PREVIEWD_IMAGE || "previewd/preview-base:latest";

const port = (name: string) => (process.env[name] ? Number(process.env[name]) : 0);
const fly = await startFakeFly({
  apiPort: port("FAKE_FLY_API_PORT"),
  edgePort: port("FAKE_FLY_EDGE_PORT"),
  app: process.env.FAKE_FLY_APP || undefined,
  token: process.env.FAKE_FLY_TOKEN || undefined,
  // Tools that skip ensureApp (an app-scoped deploy token cannot create apps) still find the app.
  createApp: true,
  autostopIdleMs: process.env.FAKE_FLY_AUTOSTOP_MS ? Number(process.env.FAKE_FLY_AUTOSTOP_MS) : undefined,
});
process.stdout.write(`FLY_API_URL=${fly.apiUrl}\nFLY_API_TOKEN=${fly.token}\nFLY_APP=${fly.app}\nFLY_EDGE_URL=${fly.edgeUrl}\nFLY_IMAGE=${image}\n`);
if (!(await new Docker().getImage(image).inspect().then(() => true, () => false))) {
  console.error(`fake fly: the image ${image} is not on this engine: machines will fail to start until scripts/build-base-image has made it`);
}
console.error(`fake fly: Machines API ${fly.apiUrl}/v1, edge ${fly.edgeUrl} (Host: ${fly.app}.fly.dev + fly-force-instance-id); Ctrl-C stops and removes its containers`);

let stopping = false;
for (const sig of ["SIGINT", "SIGTERM"] as const) {
  process.on(sig, async () => {
    if (stopping) return;
    stopping = true;
    await fly.stop().catch((e) => console.error(`fake fly: cleanup failed: ${e}`));
    process.exit(0);
  });
}
