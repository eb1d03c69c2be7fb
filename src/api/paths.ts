// File paths from clients become paths under /app in a container. A path may
// not escape the app root nor touch the runner's own state. Docker extracts
// archives inside the container's root, so even a symlink the app made
// itself cannot lead a write outside its own container.
import { invalidPath } from "../errors.ts";

const RESERVED = ".previewd";
/** The dependency cache's mount point inside the app's node_modules. */
const STORE = "node_modules/.previewd-store";

/** Throws `400 invalid_path` naming the path and the rule it breaks. */
export function checkPath(path: string): void {
  if (path.length === 0) throw invalidPath(path, "is empty");
  if (path.length > 1024) throw invalidPath(path.slice(0, 64) + "…", "is longer than 1024 characters");
  if (path.includes("\0")) throw invalidPath(path, "contains a NUL byte");
  if (path.includes("\\")) throw invalidPath(path, "contains a backslash (use /)");
  if (path.startsWith("/")) throw invalidPath(path, "is absolute (paths are relative to the app root)");
  for (const segment of path.split("/")) {
    if (segment === "..") throw invalidPath(path, "escapes the app root with ..");
    if (segment === "" || segment === ".") throw invalidPath(path, "has an empty or '.' segment");
    if (segment.length > 255) throw invalidPath(path, "has a name longer than 255 characters");
    if ([...segment].some((ch) => ch.charCodeAt(0) < 0x20)) throw invalidPath(path, "contains a control character");
  }
  for (const reserved of [RESERVED, STORE]) {
    if (path === reserved || path.startsWith(`${reserved}/`)) throw invalidPath(path, `is inside ${reserved}/, which previewd reserves`);
  }
}
