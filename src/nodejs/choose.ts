// Which Node.js line an app runs on, decided from its files alone (pure:
// table-tested). The first of these the app has decides, as version managers
// and hosts read them: .nvmrc, .node-version, package.json's volta.node,
// devEngines.runtime, engines.node. A pin names a line ("20", "v22.3.0",
// "lts/jod"): the preview runs that line's build in the image, which is its
// newest patch (an image carries one build per line). A range (engines.node
// ">=20.9.0", "^22.22.3 || ^24.15.0") gets the newest line that satisfies it.
// An app that names nothing gets the newest LTS line. A hint nothing offered
// satisfies is a 400 that names the lines offered: running an app on a line
// it says it cannot run on only moves the error into its logs.
import semver from "semver";
import { AppError } from "../errors.ts";
import { contentText } from "../files.ts";
import type { FileMap, NodeRuntime, NodeSource } from "../types.ts";
import { defaultLine, LTS_SCHEDULE, type NodeLine } from "./lines.ts";

export interface NodeChoice {
  runtime: NodeRuntime;
  line: NodeLine;
}

interface Hint {
  source: NodeSource;
  value: string;
}

/** The line for these files, or undefined when the image offers no lines (an image without the label: its own node). */
export function chooseNode(files: FileMap, lines: NodeLine[], now: Date): NodeChoice | undefined {
  if (lines.length === 0) return undefined;
  const hint = findHint(files);
  if (!hint) return { runtime: { node: defaultLine(lines, now)!.version, source: "default" }, line: defaultLine(lines, now)! };
  const line = resolve(hint.value, lines, now);
  if (!line) throw unsupported(hint, lines);
  return { runtime: { node: line.version, source: hint.source }, line };
}

/** The first hint the files give, in the order above; blank ones are skipped. */
function findHint(files: FileMap): Hint | undefined {
  for (const source of [".nvmrc", ".node-version"] as const) {
    const value = files[source] !== undefined ? firstToken(contentText(files[source]!)) : undefined;
    if (value) return { source, value };
  }
  const pkg = readPackage(files);
  const volta = stringAt(pkg?.volta, "node");
  if (volta) return { source: "volta.node", value: volta };
  const dev = devEnginesNode(pkg?.devEngines);
  if (dev) return { source: "devEngines.runtime", value: dev };
  const engines = stringAt(pkg?.engines, "node");
  if (engines) return { source: "engines.node", value: engines };
  return undefined;
}

/** .nvmrc and .node-version: the first word of the first line that is not a comment. */
function firstToken(text: string): string | undefined {
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.replace(/#.*/, "").trim();
    if (line) return line.split(/\s+/)[0];
  }
  return undefined;
}

function readPackage(files: FileMap): Record<string, unknown> | undefined {
  if (files["package.json"] === undefined) return undefined;
  try {
    const pkg = JSON.parse(contentText(files["package.json"]));
    return pkg && typeof pkg === "object" ? pkg : undefined;
  } catch {
    return undefined; // the install plan reports a broken package.json, with the parser's words
  }
}

function stringAt(o: unknown, key: string): string | undefined {
  const v = o && typeof o === "object" ? (o as Record<string, unknown>)[key] : undefined;
  return typeof v === "string" && v.trim() ? v.trim() : undefined;
}

/** devEngines.runtime is one {name, version} or a list of them (npm's devEngines field). */
function devEnginesNode(devEngines: unknown): string | undefined {
  const runtime = devEngines && typeof devEngines === "object" ? (devEngines as Record<string, unknown>).runtime : undefined;
  for (const r of Array.isArray(runtime) ? runtime : [runtime]) {
    if (r && typeof r === "object" && (r as Record<string, unknown>).name === "node") return stringAt(r, "version");
  }
  return undefined;
}

const NEWEST = new Set(["node", "latest", "current", "stable"]);

function resolve(value: string, lines: NodeLine[], now: Date): NodeLine | undefined {
  const v = value.toLowerCase();
  if (NEWEST.has(v)) return lines.at(-1);
  if (v === "lts" || v === "lts/*") return defaultLine(lines, now);
  if (v.startsWith("lts/")) {
    const major = Object.entries(LTS_SCHEDULE).find(([, s]) => s.codename === v.slice(4))?.[0];
    return lines.find((l) => l.major === Number(major));
  }
  // A bare version names its line: "20", "v22.3", "22.3.0".
  const pin = /^v?(\d+)(\.\d+){0,2}$/.exec(v);
  if (pin) return lines.find((l) => l.major === Number(pin[1]));
  if (!semver.validRange(v)) return undefined;
  const best = semver.maxSatisfying(lines.map((l) => l.version), v);
  return lines.find((l) => l.version === best);
}

function unsupported(hint: Hint, lines: NodeLine[]): AppError {
  const offered = lines.map((l) => l.version);
  const readable = /^(lts(\/[a-z*-]+)?|node|latest|current|stable)$/i.test(hint.value) || /^v?\d+(\.\d+){0,2}$/.test(hint.value) || semver.validRange(hint.value) !== null;
  const message = readable
    ? `${hint.source} asks for Node.js "${hint.value}", which none of the versions offered satisfies (${offered.join(", ")}).`
    : `${hint.source} is "${hint.value}", which is not a Node.js version, range or alias (offered: ${offered.join(", ")}).`;
  return new AppError("unsupported_node_version", 400, message, { source: hint.source, asked: hint.value, offered });
}
