// planInstall decides the package manager, the command and the cache key
// from an app's files alone.
import { describe, expect, test } from "bun:test";
import { PlanError, planInstall } from "../../src/deps/plan.ts";
import { loadApp } from "../fixtures/apps/index.ts";

const pkg = (extra: object = {}) => JSON.stringify({ name: "app", dependencies: { express: "5.0.0" }, ...extra });
const IMAGE = "rootfs-a";

describe("planInstall", () => {
  const table: Array<[string, Record<string, string>, string | undefined]> = [
    ["package-lock.json -> npm ci", { "package.json": pkg(), "package-lock.json": "{}" }, "npm ci"],
    ["npm-shrinkwrap.json -> npm ci", { "package.json": pkg(), "npm-shrinkwrap.json": "{}" }, "npm ci"],
    ["pnpm-lock.yaml -> pnpm", { "package.json": pkg(), "pnpm-lock.yaml": "lockfileVersion: '9.0'\n" }, "pnpm install"],
    ["yarn.lock (classic) -> yarn", { "package.json": pkg(), "yarn.lock": "# yarn lockfile v1\n" }, "yarn install"],
    ["bun.lock -> bun", { "package.json": pkg(), "bun.lock": "{}" }, "bun install"],
    ["no lockfile -> npm install", { "package.json": pkg() }, "npm install"],
    ["no dependencies, no lockfile -> nothing", { "package.json": JSON.stringify({ name: "x", scripts: { start: "node ." } }) }, undefined],
    ["no package.json -> nothing", { "server.js": "" }, undefined],
    ["node_modules shipped with the app -> nothing", { "package.json": pkg(), "node_modules/express/index.js": "" }, undefined],
  ];
  for (const [name, files, expected] of table) {
    test(name, () => {
      const plan = planInstall(files, IMAGE);
      expect(plan ? plan.command.slice(0, 2).join(" ") : undefined).toBe(expected);
    });
  }

  test("a real lockfile: manager, frozen command, package count in the label", () => {
    const plan = planInstall(loadApp("express-pg"), IMAGE)!;
    expect(plan.manager).toBe("npm");
    expect(plan.lockfile).toBe("package-lock.json");
    expect(plan.command).toEqual(["npm", "ci", "--no-audit", "--no-fund", "--foreground-scripts"]);
    expect(plan.packages).toBeGreaterThan(50);
    expect(plan.label).toBe(`npm ci, ${plan.packages} packages`);
    expect(Object.keys(plan.inputs).sort()).toEqual(["package-lock.json", "package.json"]);
  });

  test("the key is a content address: same inputs same key; lockfile, package.json, .npmrc and image each change it", () => {
    const files = loadApp("express-pg");
    const key = planInstall(files, IMAGE)!.key;
    expect(key).toMatch(/^[0-9a-f]{40}$/);
    expect(planInstall({ ...files, "server.js": "changed" }, IMAGE)!.key).toBe(key);
    expect(planInstall({ ...files, "package-lock.json": files["package-lock.json"]!.replace("sha512-", "sha512-X") }, IMAGE)!.key).not.toBe(key);
    // package.json's own scripts run at install: a different postinstall is a different entry.
    const scripted = JSON.parse(files["package.json"]!);
    scripted.scripts.postinstall = "echo changed";
    expect(planInstall({ ...files, "package.json": JSON.stringify(scripted, null, 2) }, IMAGE)!.key).not.toBe(key);
    expect(planInstall({ ...files, ".npmrc": "registry=https://mirror.example/\n" }, IMAGE)!.key).not.toBe(key);
    expect(planInstall(files, "rootfs-b")!.key).not.toBe(key);
  });

  test("the Node.js line's ABI is in the key (native addons differ), its patch version is not; the install runs on that line", () => {
    const files = loadApp("express-pg");
    const on = (version: string, abi: number) => planInstall(files, IMAGE, { version, major: Number.parseInt(version, 10), abi })!;
    expect(on("22.23.5", 127).key).not.toBe(on("24.22.3", 137).key);
    expect(on("24.22.3", 137).key).not.toBe(planInstall(files, IMAGE)!.key);
    expect(on("24.22.4", 137).key).toBe(on("24.22.3", 137).key);
    expect(on("24.22.3", 137).nodeBin).toBe("/opt/node/24/bin");
    expect(planInstall(files, IMAGE)!.nodeBin).toBeUndefined();
  });

  test("a packageManager of another pnpm major than the image's installs through corepack; the same major does not", () => {
    const app = (pm?: string) => ({ "package.json": JSON.stringify({ name: "a", dependencies: { x: "1" }, ...(pm && { packageManager: pm }) }), "pnpm-lock.yaml": "lockfileVersion: '9.0'\n" });
    expect(planInstall(app("pnpm@10.20.0+sha512.abc"), IMAGE)!.command.slice(0, 3)).toEqual(["corepack", "pnpm", "install"]);
    expect(planInstall(app("pnpm@9.15.0"), IMAGE)!.command[0]).toBe("pnpm");
    expect(planInstall(app(), IMAGE)!.command[0]).toBe("pnpm");
    // The field names another manager than the lockfile's: the lockfile decides, with the global tool.
    expect(planInstall(app("yarn@4.5.0"), IMAGE)!.command[0]).toBe("pnpm");
  });

  test("binary and text forms of the same bytes give the same key", () => {
    const files = loadApp("express-pg");
    const asBase64 = { ...files, "package-lock.json": { base64: Buffer.from(files["package-lock.json"]!).toString("base64") } };
    expect(planInstall(asBase64, IMAGE)!.key).toBe(planInstall(files, IMAGE)!.key);
    expect(planInstall(asBase64, IMAGE)!.packages).toBe(planInstall(files, IMAGE)!.packages);
  });

  test("a broken package.json and a Yarn Berry lockfile are refused with a reason", () => {
    expect(() => planInstall({ "package.json": "{ nope" }, IMAGE)).toThrow(PlanError);
    expect(() => planInstall({ "package.json": "{ nope" }, IMAGE)).toThrow(/package\.json is not valid JSON/);
    expect(() => planInstall({ "package.json": pkg(), "yarn.lock": "__metadata:\n  version: 8\n" }, IMAGE)).toThrow(/Yarn 2\+ \(Berry\)/);
  });
});
