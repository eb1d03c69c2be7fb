// Which Node.js line an app gets, from its files: every hint, in its order, and the errors.
import { describe, expect, test } from "bun:test";
import { AppError } from "../../src/errors.ts";
import { chooseNode, defaultLine, ltsLines, parseNodeLines } from "../../src/nodejs/index.ts";
import type { FileMap } from "../../src/types.ts";

const LINES = parseNodeLines("26.12.1:147 20.20.2:115 garbage 22.23.5:127 24.22.3:137");
const TODAY = new Date("2026-12-08T00:00:00Z");
const pkg = (o: object): FileMap => ({ "package.json": JSON.stringify({ name: "app", ...o }) });
const choose = (files: FileMap, now = TODAY) => chooseNode(files, LINES, now)?.runtime;

function refusal(files: FileMap): AppError {
  try {
    chooseNode(files, LINES, TODAY);
  } catch (e) {
    return e as AppError;
  }
  throw new Error("expected a refusal");
}

test("the image label parses into lines, oldest first, malformed entries skipped", () => {
  expect(LINES.map((l) => `${l.version}/${l.abi}`)).toEqual(["20.20.2/115", "22.23.5/127", "24.22.3/137", "26.12.1/147"]);
  expect(parseNodeLines(undefined)).toEqual([]);
});

describe("the default: the newest LTS line on the day", () => {
  test("26 once it is LTS (2026-10-28), 24 before, and 20 is never LTS after its end of life", () => {
    expect(choose({})).toEqual({ node: "26.12.1", source: "default" });
    expect(choose(pkg({}), new Date("2026-06-01"))).toEqual({ node: "24.22.3", source: "default" });
    expect(ltsLines(LINES, new Date("2026-06-01")).map((l) => l.major)).toEqual([22, 24]);
  });
  test("an image with no LTS line falls back to its newest; no lines at all means no choice", () => {
    expect(defaultLine(parseNodeLines("25.1.0:141"), TODAY)?.version).toBe("25.1.0");
    expect(chooseNode({}, [], TODAY)).toBeUndefined();
  });
});

describe("hints, in order", () => {
  test(".nvmrc pins a line, with v, a minor or a full version (the line's build runs), comments skipped", () => {
    expect(choose({ ".nvmrc": "20\n" })).toEqual({ node: "20.20.2", source: ".nvmrc" });
    expect(choose({ ".nvmrc": "# the team's line\nv22.3.0\n" })).toEqual({ node: "22.23.5", source: ".nvmrc" });
    expect(choose({ ".nvmrc": "24.1" })).toEqual({ node: "24.22.3", source: ".nvmrc" });
  });
  test("nvm aliases: lts/*, lts/<codename>, node", () => {
    expect(choose({ ".nvmrc": "lts/*" })?.node).toBe("26.12.1");
    expect(choose({ ".nvmrc": "lts/iron" })?.node).toBe("20.20.2");
    expect(choose({ ".nvmrc": "lts/Krypton" })?.node).toBe("24.22.3");
    expect(choose({ ".nvmrc": "node" })?.node).toBe("26.12.1");
  });
  test(".nvmrc before .node-version before volta before devEngines before engines", () => {
    const all = pkg({ volta: { node: "22.1.0" }, devEngines: { runtime: { name: "node", version: ">=24" } }, engines: { node: ">=20 <21" } });
    expect(choose({ ...all, ".nvmrc": "24", ".node-version": "22" })?.source).toBe(".nvmrc");
    expect(choose({ ...all, ".nvmrc": "  \n", ".node-version": "22" })).toEqual({ node: "22.23.5", source: ".node-version" });
    expect(choose(all)).toEqual({ node: "22.23.5", source: "volta.node" });
    const { volta: _, ...noVolta } = JSON.parse(all["package.json"] as string);
    expect(choose(pkg(noVolta))).toEqual({ node: "26.12.1", source: "devEngines.runtime" });
    expect(choose(pkg({ engines: { node: ">=20 <21" } }))).toEqual({ node: "20.20.2", source: "engines.node" });
  });
  test("devEngines.runtime as a list picks its node entry", () => {
    const files = pkg({ devEngines: { runtime: [{ name: "bun", version: "1" }, { name: "node", version: "^22.12.0" }] } });
    expect(choose(files)).toEqual({ node: "22.23.5", source: "devEngines.runtime" });
  });
  test("engines.node ranges get the newest line that satisfies them (Angular's, Next's)", () => {
    expect(choose(pkg({ engines: { node: "^22.22.3 || ^24.15.0" } }))?.node).toBe("24.22.3");
    expect(choose(pkg({ engines: { node: ">=20.9.0" } }))?.node).toBe("26.12.1");
    expect(choose(pkg({ engines: { node: "20.x || 22.x" } }))?.node).toBe("22.23.5");
  });
  test("a broken package.json is not this module's to report: default", () => {
    expect(choose({ "package.json": "{nope" })).toEqual({ node: "26.12.1", source: "default" });
  });
});

describe("refusals name what was asked and what is offered", () => {
  test("a range nothing satisfies", () => {
    const e = refusal(pkg({ engines: { node: "^18.0.0" } }));
    expect(e).toBeInstanceOf(AppError);
    expect(e.status).toBe(400);
    expect(e.code).toBe("unsupported_node_version");
    expect(e.message).toContain('engines.node asks for Node.js "^18.0.0"');
    expect(e.message).toContain("20.20.2, 22.23.5, 24.22.3, 26.12.1");
    expect(e.details).toEqual({ source: "engines.node", asked: "^18.0.0", offered: ["20.20.2", "22.23.5", "24.22.3", "26.12.1"] });
  });
  test("a pin of a line the image lacks, an unknown LTS codename, and garbage", () => {
    expect(refusal({ ".nvmrc": "18" }).message).toContain('.nvmrc asks for Node.js "18"');
    expect(refusal({ ".nvmrc": "lts/argon" }).message).toContain('"lts/argon"');
    expect(refusal({ ".node-version": "banana" }).message).toContain('.node-version is "banana", which is not a Node.js version');
    expect(refusal(pkg({ engines: { node: "<<>>" } })).code).toBe("unsupported_node_version");
  });
});
