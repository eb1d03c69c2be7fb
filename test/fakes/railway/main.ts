// `scripts/fake railway`: runs a fake Railway in the foreground and prints
// how to reach it (one KEY=value a line, for `eval` or an env file), then
// waits for SIGINT/SIGTERM and removes everything it made before exiting.
import { startFakeRailway } from "./index.ts";

const fake = await startFakeRailway({ port: process.env.FAKE_RAILWAY_PORT ? Number(process.env.FAKE_RAILWAY_PORT) : undefined });
console.log(`RAILWAY_API_URL=${fake.apiUrl}`);
console.log(`RAILWAY_API_TOKEN=${fake.token}`);
console.log(`RAILWAY_EDGE_URL=${fake.edgeUrl}`);

let stopping = false;
const stop = async (signal: string) => {
  if (stopping) return;
  stopping = true;
  console.error(`fake railway: ${signal}, cleaning up`);
  try {
    await fake.stop();
  } finally {
    process.exit(0);
  }
};
process.on("SIGINT", () => void stop("SIGINT"));
process.on("SIGTERM", () => void stop("SIGTERM"));
