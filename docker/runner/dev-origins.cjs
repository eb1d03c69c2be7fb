// Preloaded into every Node.js process of a preview (NODE_OPTIONS --require,
// set by runner.mjs): makes Next.js's dev server accept the preview's own host
// without the user's next.config saying so.
//
// Next 15.2+ answers 403 to its dev resources (/_next/*, /__nextjs*) and
// refuses the HMR WebSocket when the browser's Origin (or Referer) is not
// localhost or in `allowedDevOrigins` (next/dist/server/lib/router-utils/
// block-cross-site-dev.js), so a preview at http://{id}.preview.test renders
// but never hydrates. The dev server reads that list from the config that
const limited = Number(process.env.PREVIEWD_MEMORY_LIMIT_MB) > 0;

// next/dist/server/config.js's default export (loadConfig) returns; this
// wraps loadConfig so the config it returns also lists PREVIEWD_PREVIEW_HOST
// (comma-separated host names). The user's own entries are kept.
//
// In a container with a memory limit (PREVIEWD_MEMORY_LIMIT_MB, set by the
// runner) it also turns Turbopack's dev filesystem cache off (Next 16's
// default is on; an app that sets it off keeps it off; one that sets it on
// cannot be told from the default and loses it): Turbopack's caches live in
// the next-server process, outside the V8 heap the runner caps, and writing
// that cache after the first compile ("Finished writing to filesystem
// cache") is when the kernel killed it (measured: 453-459 MB resident in a
// 512 MB container, with the heap capped at 307 and at 230 MiB). Forcing
// turbopackMemoryEvictionMode "full" did not prevent it.
// Nothing is changed for any other module, and nothing at all without the variables.
"use strict";
const Module = require("node:module");
const path = require("node:path");

const hosts = (process.env.PREVIEWD_PREVIEW_HOST || "")
  .split(",")
  .map((h) => h.trim().toLowerCase())
  .filter(Boolean);

// next/dist/server/config.js, and the ESM build's copy.
const CONFIG = new RegExp(`[\\\\/]next[\\\\/]dist[\\\\/](esm[\\\\/])?server[\\\\/]config\\.js$`);
const wrapped = new WeakMap();

function withHosts(config) {
  if (!config || typeof config !== "object") return config;
  const own = Array.isArray(config.allowedDevOrigins) ? config.allowedDevOrigins : [];
  const missing = hosts.filter((h) => !own.includes(h));
  // A copy: Next may freeze the loaded config.
  const out = missing.length > 0 ? { ...config, allowedDevOrigins: [...own, ...missing] } : config;
  const x = config.experimental;
  if (limited && x && typeof x === "object" && x.turbopackFileSystemCacheForDev === true) {
    return { ...out, experimental: { ...x, turbopackFileSystemCacheForDev: false } };
  }
  return out;
}

function wrap(exports) {
  if (wrapped.has(exports)) return wrapped.get(exports);
  const load = exports.default;
  if (typeof load !== "function") return exports;
  // The module's exports are getters that cannot be redefined: a new object with the same members.
  const out = Object.create(null);
  for (const key of Object.keys(exports)) if (key !== "default") Object.defineProperty(out, key, { enumerable: true, get: () => exports[key] });
  Object.defineProperty(out, "__esModule", { value: true });
  Object.defineProperty(out, "default", { enumerable: true, value: async (...args) => withHosts(await load(...args)) });
  wrapped.set(exports, out);
  return out;
}

if (hosts.length > 0 || limited) {
  const load = Module._load;
  Module._load = function previewdLoad(request, parent, isMain) {
    const exports = load.apply(this, arguments);
    // Cheap test first: only requests for a module named config, from inside next/dist.
    if (typeof request !== "string" || !request.endsWith("config") || !parent?.filename?.includes(`${path.sep}next${path.sep}dist${path.sep}`)) return exports;
    try {
      const file = Module._resolveFilename(request, parent, isMain);
      return CONFIG.test(file) ? wrap(exports) : exports;
    } catch {
      return exports;
    }
  };
}
