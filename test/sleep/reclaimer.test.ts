// The reclaimer adapters' file logic and the host probe. cgroup v1 is this
// machine's: its real behaviour (a frozen container's memory pushed out) is
// tested with Docker in test/previews/deep-sleep.test.ts; here its writes
// are checked against a temporary tree shaped like /sys/fs/cgroup. cgroup v2
// cannot be run here (the host is v1): its adapter is tested only against
// such a tree, with the files a v2 kernel has (memory.current, memory.max,
// memory.high, memory.swap.max, memory.reclaim).
import { afterEach, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CgroupV1Reclaimer, CgroupV2Reclaimer, mib, probeHost, probeSwap, setUpDeepSleep } from "../../src/sleep/index.ts";

const ID = "0123456789abcdef".repeat(4);
const dirs: string[] = [];
const tree = (files: Record<string, string>) => {
  const root = mkdtempSync(join(tmpdir(), "previewd-cg-"));
  dirs.push(root);
  for (const [p, v] of Object.entries(files)) {
    mkdirSync(join(root, p, ".."), { recursive: true });
    writeFileSync(join(root, p), v);
  }
  return root;
};
const read = (root: string, p: string) => readFileSync(join(root, p), "utf8");
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe("cgroup v1 adapter (file logic)", () => {
  test("lowers memory.limit_in_bytes to the floor, then gives back the limit it found", async () => {
    const c = `memory/docker/${ID}`;
    const root = tree({ [`${c}/memory.limit_in_bytes`]: String(mib(512)), [`${c}/memory.usage_in_bytes`]: String(mib(99)), [`${c}/memory.memsw.limit_in_bytes`]: String(mib(512)) });
    const r = new CgroupV1Reclaimer({ floorBytes: mib(12), limitBytes: mib(256), root });
    const res = await r.reclaim(ID);
    expect(res.beforeBytes).toBe(mib(99));
    expect(read(root, `${c}/memory.limit_in_bytes`)).toBe(String(mib(12)));
    await r.restore(ID);
    expect(read(root, `${c}/memory.limit_in_bytes`)).toBe(String(mib(512))); // what it had, not the configured 256
    expect(r.resident(ID)).toBe(mib(99));
  });

  test("after a daemon restart (nothing remembered) restore writes the configured limit; a systemd-driver path is found too", async () => {
    const c = `memory/system.slice/docker-${ID}.scope`;
    const root = tree({ [`${c}/memory.limit_in_bytes`]: String(mib(12)), [`${c}/memory.usage_in_bytes`]: String(mib(11)) });
    await new CgroupV1Reclaimer({ floorBytes: mib(12), limitBytes: mib(512), root }).restore(ID);
    expect(read(root, `${c}/memory.limit_in_bytes`)).toBe(String(mib(512)));
  });

  test("a container with no cgroup is an error naming it; a malformed id is refused before any path is made", async () => {
    const root = tree({ "memory/memory.limit_in_bytes": "1" });
    const r = new CgroupV1Reclaimer({ floorBytes: mib(12), limitBytes: mib(512), root });
    await expect(r.reclaim(ID)).rejects.toThrow(`no cgroup v1 memory directory for container ${ID.slice(0, 12)}`);
    await expect(r.reclaim("../../etc")).rejects.toThrow("not a container id");
    expect(r.resident(ID)).toBeUndefined();
  });
});

describe("cgroup v2 adapter (file logic in a temporary tree; no v2 host here)", () => {
  const v2 = (extra: Record<string, string> = {}) => {
    const c = `system.slice/docker-${ID}.scope`;
    return { c, root: tree({ "cgroup.controllers": "memory cpu", [`${c}/memory.max`]: String(mib(512)), [`${c}/memory.current`]: String(mib(100)), [`${c}/memory.high`]: "max", [`${c}/memory.swap.max`]: "0", ...Object.fromEntries(Object.entries(extra).map(([k, v]) => [`${c}/${k}`, v])) }) };
  };

  test("lets it swap, asks memory.reclaim for all above the floor; restore puts swap.max back", async () => {
    const { c, root } = v2({ "memory.reclaim": "" });
    const r = new CgroupV2Reclaimer({ floorBytes: mib(12), root });
    await r.reclaim(ID);
    expect(read(root, `${c}/memory.swap.max`)).toBe("max");
    expect(read(root, `${c}/memory.reclaim`)).toBe(String(mib(100) - mib(12)));
    expect(read(root, `${c}/memory.high`)).toBe("max"); // untouched where memory.reclaim exists
    await r.restore(ID);
    expect(read(root, `${c}/memory.swap.max`)).toBe("0");
  });

  test("without memory.reclaim (kernel before 5.19): memory.high goes to the floor, and back on restore", async () => {
    const { c, root } = v2();
    const r = new CgroupV2Reclaimer({ floorBytes: mib(12), root });
    await r.reclaim(ID);
    expect(read(root, `${c}/memory.high`)).toBe(String(mib(12)));
    await r.restore(ID);
    expect({ high: read(root, `${c}/memory.high`), swap: read(root, `${c}/memory.swap.max`) }).toEqual({ high: "max", swap: "0" });
  });
});

describe("host probe", () => {
  const proc = (swaps: string, swapKb: number) => tree({ meminfo: `MemTotal: 8000000 kB\nSwapTotal: ${swapKb} kB\nSwapFree: ${swapKb} kB\n`, swaps: `Filename Type Size Used Priority\n${swaps}` });
  const cg1 = () => tree({ "memory/memory.limit_in_bytes": "9223372036854771712" });

  test("reads swap devices and zswap's state", () => {
    const sys = tree({ "module/zswap/parameters/enabled": "Y\n", "module/zswap/parameters/compressor": "lzo\n" });
    const s = probeSwap(proc("/data/previewd.swap file 2097148 0 -2\n", 2097148), sys);
    expect(s).toEqual({ totalBytes: 2097148 * 1024, freeBytes: 2097148 * 1024, devices: [{ name: "/data/previewd.swap", type: "file", sizeBytes: 2097148 * 1024 }], zswap: true, zswapCompressor: "lzo" });
  });

  test("no swap, or not root: no reclaimer and one clear reason, logged as a warning at start", () => {
    const none = probeHost({ floorMb: 12, limitMb: 512, cgroupRoot: cg1(), proc: proc("", 0), sys: tree({}), uid: 0 });
    expect(none.reclaimer).toBeUndefined();
    expect(none.unavailable).toContain("no swap on this host");
    const user = probeHost({ floorMb: 12, limitMb: 512, cgroupRoot: cg1(), proc: proc("/dev/zram0 partition 1000 0 100\n", 1000), sys: tree({}), uid: 1000 });
    expect(user.unavailable).toContain("not running as root");
    const lines: string[] = [];
    const log = { info: (_: object, m: string) => lines.push(`info ${m}`), warn: (_: object, m: string) => lines.push(`warn ${m}`) };
    expect(setUpDeepSleep({ reclaimAfterS: 300, floorMb: 12, limitMb: 512 }, log, none)).toBeUndefined();
    expect(lines).toEqual(["info memory: no swap", `warn deep sleep cannot work: ${none.unavailable}`]);
  });

  test("swap and root on cgroup v1: the v1 reclaimer, and the start-up line says what was found", () => {
    const host = probeHost({ floorMb: 12, limitMb: 512, cgroupRoot: cg1(), proc: proc("/dev/zram0 partition 1048576 0 100\n", 1048576), sys: tree({}), uid: 0 });
    expect(host.reclaimer?.kind).toBe("cgroup v1");
    const lines: string[] = [];
    setUpDeepSleep({ reclaimAfterS: 300, floorMb: 12, limitMb: 512 }, { info: (_, m) => lines.push(m), warn: (_, m) => lines.push(`warn ${m}`) }, host);
    expect(lines).toEqual(["memory: swap 1024 MiB (zram), no zswap in this kernel; deep sleep after 300 s suspended (cgroup v1, floor 12 MiB)"]);
  });
});
