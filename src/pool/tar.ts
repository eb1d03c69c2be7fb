// Packs a FileMap into a tar stream for Docker's putArchive; text and base64
// contents alike are written as their bytes. Paths are already validated
// (relative, no `..`), and entries are owned by the container's non-root user
// so the app can rewrite its own files.
import { pack } from "tar-stream";
import { contentBytes } from "../files.ts";
import type { FileMap } from "../types.ts";

export const APP_UID = 1000;

export async function tarFiles(files: FileMap): Promise<Buffer> {
  const p = pack();
  const dirs = new Set<string>();
  const chunks: Buffer[] = [];
  p.on("data", (c) => chunks.push(c as Buffer));
  const done = new Promise<void>((resolve, reject) => {
    p.on("end", resolve);
    p.on("error", reject);
  });
  for (const [path, content] of Object.entries(files)) {
    // Parent directories first, so they are created with our owner, not root.
    const parts = path.split("/");
    for (let i = 1; i < parts.length; i++) {
      const dir = parts.slice(0, i).join("/");
      if (dirs.has(dir)) continue;
      dirs.add(dir);
      p.entry({ name: dir, type: "directory", mode: 0o755, uid: APP_UID, gid: APP_UID });
    }
    p.entry({ name: path, mode: 0o644, uid: APP_UID, gid: APP_UID }, contentBytes(content));
  }
  p.finalize();
  await done;
  return Buffer.concat(chunks);
}
