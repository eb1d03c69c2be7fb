// Argument parsing and the CLI's error type. Each command names the flags it
// takes, so a typo (`--fllow`) is a usage error (exit 2) instead of being
// ignored; exit codes are what scripts branch on: 0 ok, 1 failed or not
// found, 2 usage.

export class CliError extends Error {
  constructor(message: string, readonly exitCode: 1 | 2 = 1) {
    super(message);
  }
}

export const usageError = (message: string) => new CliError(message, 2);

export interface ArgSpec {
  /** Flags without a value: `--db`. */
  flags?: string[];
  /** Flags that take the next argument (or `--flag=value`): `--tail 50`. */
  valued?: string[];
  /** Short forms: `{ "-f": "--follow" }`. */
  aliases?: Record<string, string>;
}

export interface Parsed {
  positional: string[];
  flags: Set<string>;
  /** The last value of each valued flag. */
  values: Map<string, string>;
  /** Every value of each valued flag, in order (`--confirm A --confirm B`). */
  lists: Map<string, string[]>;
}

export function parseArgs(args: string[], spec: ArgSpec): Parsed {
  const flags = new Set<string>();
  const values = new Map<string, string>();
  const lists = new Map<string, string[]>();
  const positional: string[] = [];
  const known = new Set(spec.flags ?? []);
  const valued = new Set(spec.valued ?? []);
  for (let i = 0; i < args.length; i++) {
    let a = args[i]!;
    if (a === "--") {
      positional.push(...args.slice(i + 1));
      break;
    }
    if (!a.startsWith("-") || a === "-") {
      positional.push(a);
      continue;
    }
    a = spec.aliases?.[a] ?? a;
    const eq = a.indexOf("=");
    const name = eq > 0 ? a.slice(0, eq) : a;
    if (valued.has(name)) {
      const value = eq > 0 ? a.slice(eq + 1) : args[++i];
      if (value === undefined) throw usageError(`${name} needs a value`);
      values.set(name, value);
      lists.set(name, [...(lists.get(name) ?? []), value]);
    } else if (known.has(name) && eq < 0) {
      flags.add(name);
    } else {
      throw usageError(`unknown option ${JSON.stringify(a)}; see previewd --help`);
    }
  }
  return { positional, flags, values, lists };
}
