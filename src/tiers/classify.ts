// tier "auto": does this app need a server of ours, or can it be built once
// and served as files (the browser tier)? A pure function of the request, so
// it is table-tested with real package.json shapes. It says "browser" only
// when every sign points that way, and records each reason either way: a
// wrong "browser" breaks an app, a wrong "container" only costs memory.
import type { FileMap } from "../types.ts";

export interface TierDecision {
  tier: "browser" | "container";
  reasons: string[];
}

interface Request {
  files: FileMap;
  command?: string[];
  database?: unknown;
}

/** Packages that mean a server process (frameworks with SSR/API routes, servers, database drivers, sockets). */
const SERVER_PACKAGES = [
  "express", "fastify", "koa", "hono", "@hono/node-server", "@nestjs/core", "restify", "hapi", "@hapi/hapi", "polka",
  "next", "nuxt", "@remix-run/node", "@remix-run/serve", "@sveltejs/adapter-node", "@astrojs/node", "@react-router/serve",
  "pg", "postgres", "mysql", "mysql2", "mongodb", "mongoose", "prisma", "@prisma/client", "drizzle-orm", "knex", "sequelize", "typeorm",
  "sqlite3", "better-sqlite3", "redis", "ioredis", "ws", "socket.io", "@apollo/server", "apollo-server", "graphql-yoga", "json-server",
];
/** Packages with native addons (built with node-gyp; nothing to serve as files). */
const NATIVE_PACKAGES = ["sharp", "bcrypt", "canvas", "node-sass", "sqlite3", "better-sqlite3", "argon2", "serialport"];
/** Files and folders that hold server code by the conventions of common frameworks. */
const SERVER_PATHS: Array<[RegExp, string]> = [
  [/^server\.(c|m)?(j|t)s$/, "a server entry file"],
  [/^(src\/)?server\//, "a server/ folder"],
  [/^api\//, "an api/ folder (serverless functions)"],
  [/^(src\/)?pages\/api\//, "pages/api routes"],
  [/^(src\/)?app\/(.*\/)?route\.(c|m)?(j|t)sx?$/, "app router route handlers"],
  [/^(netlify\/)?functions\//, "a functions/ folder"],
  [/(^|\/)binding\.gyp$/, "a native addon (binding.gyp)"],
];
/** A script that starts a Node process of its own rather than a build tool's dev server. */
const NODE_SERVER_SCRIPT = /^\s*(node|nodemon|ts-node|tsx|bun)\s+(?!.*\b(vite|webpack|parcel)\b)/;

export function classifyTier(req: Request): TierDecision {
  const reasons: string[] = [];
  if (req.database) reasons.push("it asks for a database");
  if (req.command?.length) reasons.push(`it has a command (${req.command.join(" ")})`);
  for (const path of Object.keys(req.files)) {
    const hit = SERVER_PATHS.find(([re]) => re.test(path));
    if (hit) reasons.push(`it has ${hit[1]} (${path})`);
  }
  const hasIndexHtml = "index.html" in req.files || "public/index.html" in req.files;
  const raw = req.files["package.json"];
  let pkg: { dependencies?: Record<string, string>; devDependencies?: Record<string, string>; scripts?: Record<string, string> } | undefined;
  if (raw !== undefined) {
    try {
      pkg = JSON.parse(typeof raw === "string" ? raw : Buffer.from(raw.base64, "base64").toString("utf8"));
    } catch {
      reasons.push("its package.json is not valid JSON");
    }
  }
  if (pkg) {
    const deps = Object.keys(pkg.dependencies ?? {});
    const all = [...deps, ...Object.keys(pkg.devDependencies ?? {})];
    const server = deps.filter((d) => SERVER_PACKAGES.includes(d) || d.startsWith("@nestjs/"));
    if (server.length) reasons.push(`it depends on server packages (${server.join(", ")})`);
    const native = all.filter((d) => NATIVE_PACKAGES.includes(d));
    if (native.length) reasons.push(`it uses native addons (${native.join(", ")})`);
    const scripts = pkg.scripts ?? {};
    for (const name of ["start", "dev"]) {
      const s = scripts[name];
      if (s && NODE_SERVER_SCRIPT.test(s)) reasons.push(`its ${name} script runs a Node process (${s.trim()})`);
    }
    if (Object.values(scripts).some((s) => /node-gyp/.test(s))) reasons.push("a script runs node-gyp");
    if (!scripts.build && !hasIndexHtml) reasons.push("it has no build script and no index.html to serve");
  } else if (raw === undefined && !hasIndexHtml) {
    reasons.push("it has neither a package.json with a build script nor an index.html");
  }
  if (reasons.length) return { tier: "container", reasons };
  return { tier: "browser", reasons: [pkg?.scripts?.build ? `frontend only: built with \`${pkg.scripts.build}\` and served as files` : "frontend only: static files served as they are"] };
}
