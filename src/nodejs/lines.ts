// The Node.js lines a preview image offers, and which of them are LTS when.
// The image says what it carries in its label previewd.node-lines
// ("20.20.2:115 22.23.5:127 ...": version and ABI, read off the binaries by
// scripts/build-base-image); each line's build lives in /opt/node/<major>/bin.

export interface NodeLine {
  /** The full version the image has for this line ("24.22.3"). */
  version: string;
  major: number;
  /** process.versions.modules: native addons built for one ABI do not load on another. */
  abi: number;
}

/** Where an image keeps a line's binaries (node, and npm/corepack run on whichever node is first on PATH). */
export const nodeBinDir = (major: number): string => `/opt/node/${major}/bin`;

/** The bin directory of the line a preview's stored runtime names ("24.22.3" -> /opt/node/24/bin); none without one. */
export const runtimeBinDir = (runtime: { node: string } | undefined): string | undefined =>
  runtime && nodeBinDir(Number.parseInt(runtime.node, 10));

/**
 * The Node.js release schedule for the lines previews may run
 * (https://github.com/nodejs/Release): when each even line entered LTS and
 * when its support ends. A line absent here is never the default.
 */
export const LTS_SCHEDULE: Record<number, { codename: string; lts: string; eol: string }> = {
  18: { codename: "hydrogen", lts: "2022-10-25", eol: "2025-04-30" },
  20: { codename: "iron", lts: "2023-10-24", eol: "2026-04-30" },
  22: { codename: "jod", lts: "2024-10-29", eol: "2027-04-30" },
  24: { codename: "krypton", lts: "2025-10-28", eol: "2028-04-30" },
  26: { codename: "lithium", lts: "2026-10-28", eol: "2029-04-30" },
};

/** Parses the image label; lines sorted oldest first. Malformed entries are skipped (an old image has no label: none). */
export function parseNodeLines(label: string | undefined): NodeLine[] {
  const lines: NodeLine[] = [];
  for (const entry of (label ?? "").split(/\s+/)) {
    const m = /^(\d+)\.(\d+)\.(\d+):(\d+)$/.exec(entry);
    if (m) lines.push({ version: `${m[1]}.${m[2]}.${m[3]}`, major: Number(m[1]), abi: Number(m[4]) });
  }
  return lines.sort((a, b) => a.major - b.major);
}

/** The lines in LTS on `now` (entered LTS, not past end of life), oldest first. */
export function ltsLines(lines: NodeLine[], now: Date): NodeLine[] {
  const day = now.toISOString().slice(0, 10);
  return lines.filter((l) => {
    const s = LTS_SCHEDULE[l.major];
    return s !== undefined && s.lts <= day && day < s.eol;
  });
}

/** What an app that names no line gets: the newest LTS line; with none in LTS (an odd image), the newest line. */
export function defaultLine(lines: NodeLine[], now: Date): NodeLine | undefined {
  return ltsLines(lines, now).at(-1) ?? lines.at(-1);
}
