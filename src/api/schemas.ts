// Request bodies and queries of the control API, as valibot schemas. The
// schema is the documentation: every field's rule and default is here.
import * as v from "valibot";
import { badRequest, tooLarge } from "../errors.ts";
import { byteLength } from "../files.ts";
import { CONTROL_PORT } from "../pool/runtime.ts";
import type { DatabaseRequest, FileMap, PreviewSpec, Visibility } from "../types.ts";
import { checkPath } from "./paths.ts";

// Standard alphabet; padding optional, but a length of 4n+1 is never base64.
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/** Why a file's content is not a string or {"base64": "..."}; undefined when it is fine. */
export function contentProblem(c: unknown): string | undefined {
  if (typeof c === "string") return undefined;
  if (typeof c !== "object" || c === null || Array.isArray(c)) return 'must be a string of text or {"base64": "..."}';
  const keys = Object.keys(c);
  if (keys.length !== 1 || keys[0] !== "base64") return `must be {"base64": "..."} with no other key (got ${keys.slice(0, 3).join(", ") || "no key"})`;
  const b = (c as { base64: unknown }).base64;
  if (typeof b !== "string") return "base64 must be a string";
  const padded = b.endsWith("=");
  if (!BASE64.test(b) || (padded ? b.length % 4 !== 0 : b.length % 4 === 1)) return "is not valid base64 (A-Z a-z 0-9 + /, then = padding)";
  return undefined;
}

/** Names valibot's record (and any plain object) would drop or mistake for its own: refused by name rather than lost. */
const OBJECT_KEYS = new Set(["__proto__", "constructor", "prototype"]);

// A record checked entry by entry, so each message names the file's path
// (valibot's own union error would only say "invalid type").
const Files = v.pipe(
  v.custom<Record<string, unknown>>((f) => typeof f === "object" && f !== null && !Array.isArray(f), "files must be an object of path: content"),
  v.rawCheck(({ dataset, addIssue }) => {
    if (!dataset.typed) return;
    for (const path of Object.keys(dataset.value)) {
      if (OBJECT_KEYS.has(path)) addIssue({ message: `file ${JSON.stringify(path)}: a name JavaScript objects reserve at the app root is not allowed (previewd would lose it); put it in a folder or rename it` });
    }
  }),
  v.record(v.string(), v.unknown()),
  v.rawCheck(({ dataset, addIssue }) => {
    if (!dataset.typed) return;
    for (const [path, content] of Object.entries(dataset.value)) {
      const why = contentProblem(content);
      if (why) addIssue({ message: `file ${JSON.stringify(path)}: content ${why}` });
    }
  }),
  v.transform((files) => files as FileMap),
);
const EnvName = v.pipe(v.string(), v.regex(/^[A-Za-z_][A-Za-z0-9_]{0,127}$/, "environment variable names are letters, digits and _"));
const Env = v.pipe(
  v.custom<Record<string, unknown>>((e) => typeof e === "object" && e !== null && !Array.isArray(e), "env must be an object of NAME: value"),
  v.rawCheck(({ dataset, addIssue }) => {
    if (!dataset.typed) return;
    for (const name of Object.keys(dataset.value)) {
      if (OBJECT_KEYS.has(name)) addIssue({ message: `environment variable ${JSON.stringify(name)} is not allowed (a name JavaScript objects reserve; previewd would lose it)` });
    }
  }),
  v.record(EnvName, v.pipe(v.string("env values must be strings"), v.maxLength(32768))),
  v.check((e) => Object.keys(e).length <= 256, "at most 256 env variables"),
);

const VisibilityField = v.picklist(["public", "private"], 'visibility must be "public" or "private"');

export const CreateBody = v.strictObject({
  files: Files,
  command: v.optional(v.pipe(v.array(v.pipe(v.string(), v.minLength(1, "command words may not be empty"))), v.minLength(1, "command needs at least one word"), v.maxLength(256))),
  port: v.optional(
    v.pipe(
      v.number("port must be a number"), v.integer("port must be an integer"), v.minValue(1, "port must be 1-65535"), v.maxValue(65535, "port must be 1-65535"),
      v.check((p) => p !== CONTROL_PORT, `port ${CONTROL_PORT} is reserved for previewd's runner inside the container (its control port); serve the app on another port`),
    ),
  ),
  env: v.optional(Env, {}),
  database: v.optional(
    v.union([
      v.boolean(),
      v.strictObject({
        migrations: v.optional(v.pipe(v.array(v.string("each migration is a string of SQL")), v.maxLength(1000)), []),
        seed: v.optional(v.string("seed is a string of SQL")),
      }),
    ], "database must be true, false or {migrations, seed}"),
  ),
  tier: v.optional(v.picklist(["auto", "browser", "container", "fly"], "tier must be auto, browser, container or fly"), "auto"),
  // Unset: PREVIEWD_VISIBILITY (toSpec applies it).
  visibility: v.optional(VisibilityField),
});

/** PATCH /v1/previews/{id}: what may change of a preview itself (its files have their own PATCH). */
export const PatchPreviewBody = v.strictObject({
  visibility: VisibilityField,
});

/** POST /v1/previews/{id}/shares. The password is hashed at once (argon2id) and never kept or shown. */
export const ShareBody = v.strictObject({
  ttlSeconds: v.optional(v.pipe(v.number("ttlSeconds must be a number"), v.integer("ttlSeconds must be a whole number"), v.minValue(1, "ttlSeconds is at least 1"), v.maxValue(30 * 86400, "ttlSeconds is at most 2592000 (30 days)")), 86400),
  password: v.optional(v.pipe(v.string("password must be a string"), v.minLength(1, "password may not be empty"), v.maxLength(256, "password is at most 256 characters"))),
});

export const PatchFilesBody = v.strictObject({
  files: v.optional(Files, {}),
  delete: v.optional(v.pipe(v.array(v.string()), v.maxLength(10000)), []),
});

/** An archive upload's other fields (the archive is the files). */
export const CreateOptions = v.omit(CreateBody, ["files"]);
export const PatchOptions = v.omit(PatchFilesBody, ["files"]);

export const LogsQuery = v.object({
  tail: v.optional(v.pipe(v.string(), v.regex(/^\d{1,5}$/, "tail must be a number of lines up to 99999"), v.transform(Number)), "200"),
  follow: v.optional(v.picklist(["0", "1", "true", "false"], "follow must be 0 or 1"), "0"),
});

/** Parses with a schema; a failure is a 400 naming each field and its rule. */
export function parse<S extends v.GenericSchema>(schema: S, input: unknown, what = "body"): v.InferOutput<S> {
  const r = v.safeParse(schema, input);
  if (r.success) return r.output;
  const issues = r.issues.map((i) => ({ path: [what, ...(v.getDotPath(i)?.split(".") ?? [])].join("."), message: i.message }));
  throw badRequest(`${issues[0]!.path}: ${issues[0]!.message}`, { issues });
}

export interface FileLimits {
  maxFiles: number;
  maxBytes: number;
}

/** Paths are safe and the total stays under the node's limits. */
export function checkFiles(files: FileMap, limits: FileLimits, extraPaths: string[] = []): void {
  const paths = Object.keys(files);
  for (const p of [...paths, ...extraPaths]) checkPath(p);
  if (paths.length > limits.maxFiles) throw tooLarge(`${paths.length} files is more than the limit of ${limits.maxFiles}.`, { files: paths.length, limit: limits.maxFiles });
  let bytes = 0;
  for (const p of paths) bytes += byteLength(files[p]!); // decoded bytes, not base64 characters
  if (bytes > limits.maxBytes) throw tooLarge(`${bytes} bytes of files is more than the limit of ${limits.maxBytes}.`, { bytes, limit: limits.maxBytes });
}

export function toSpec(body: v.InferOutput<typeof CreateBody>, defaultVisibility: Visibility = "public"): PreviewSpec {
  let database: DatabaseRequest | undefined;
  if (body.database === true) database = { migrations: [] };
  else if (body.database && typeof body.database === "object") database = { migrations: body.database.migrations, seed: body.database.seed };
  return { files: body.files, command: body.command, port: body.port, env: body.env, database, tier: body.tier, visibility: body.visibility ?? defaultVisibility };
}

/** POST /v1/previews/{id}/deploy. Project names as Railway shows them: short, printable, no control characters. */
export const DeployBody = v.strictObject({
  provider: v.picklist(["railway"], 'provider must be "railway" (the only deploy target)'),
  projectName: v.optional(v.pipe(v.string("projectName must be a string"), v.regex(/^[A-Za-z0-9][A-Za-z0-9 ._-]{0,63}$/, "projectName is 1-64 letters, digits, spaces, dots, dashes or underscores, starting with a letter or digit"))),
  cleanup: v.optional(v.boolean("cleanup must be true or false")),
  mode: v.optional(v.picklist(["create", "update"], 'mode must be "create" (a new project with the preview\'s data) or "update" (the live deployment gets the new code and the schema change)')),
  // The exact texts a refused deployment listed in error.details.confirm (e.g. "drop column products.legacy").
  confirm: v.optional(v.pipe(
    v.array(v.pipe(v.string("confirm entries must be strings"), v.minLength(1, "a confirm entry is empty"), v.maxLength(600, "a confirm entry is at most 600 characters"), v.regex(/^[^\u0000-\u001f\u007f]*$/, "confirm entries have no control characters")), "confirm must be an array of strings"),
    v.maxLength(200, "confirm has at most 200 entries"),
  )),
});

/** POST /v1/previews/{id}/tokens: a token for one preview, some actions, a while (at most a day). */
export const TokenBody = v.strictObject({
  ttlSeconds: v.optional(v.pipe(v.number("ttlSeconds must be a number"), v.integer("ttlSeconds must be a whole number"), v.minValue(30, "ttlSeconds is at least 30"), v.maxValue(86400, "ttlSeconds is at most 86400 (a day)"))),
  scope: v.optional(v.pipe(v.array(v.picklist(["read", "files", "deploy"], 'scope entries are "read", "files" or "deploy"'), "scope must be an array"), v.minLength(1, "scope needs at least one entry"))),
});
