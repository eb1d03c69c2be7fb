// Exports one preview schema as a SQL script that `psql -v ON_ERROR_STOP=1`
// replays into an empty database: pg_dump of that schema alone (tables,
// sequences with their current values, constraints, foreign keys, indexes,
// enums and other types, views, functions, data), without owners or grants
// (the target has other roles), followed by an epilogue that moves the objects
// into the target's `public` schema.
//
// Why rename the schema instead of rewriting the dump's text: the dump names
// the schema in DDL and COPY headers, but the same characters may appear in
// the data. ALTER SCHEMA ... RENAME makes PostgreSQL itself repoint every
// reference (views, defaults, sequences, foreign keys are stored by OID), so
// data is never touched. Function bodies are text: a body that spelled out
// the preview schema's name keeps it (unqualified names, the norm with the
// role's search_path, are unaffected).
import { ident } from "./ident.ts";
import { pgEnv } from "./pgenv.ts";

export interface DumpTarget {
  /** postgres:// URL of the server holding the preview schema (the admin URL). */
  url: string;
  /** The preview schema to export. */
  schema: string;
  /** Schema the objects land in on replay; `public` by default. */
  into?: string;
  /** pg_dump binary; default `pg_dump` on PATH (Debian's wrapper picks the newest installed). */
  pgDump?: string;
  /** A snapshot exported by an open transaction (pg_export_snapshot): the dump sees exactly what it sees. */
  snapshot?: string;
}

/**
 * The dump as a stream, straight from pg_dump's stdout (a 300 MB schema is
 * never held in memory), then the epilogue. A pg_dump that fails before its
 * first byte (bad login, no such schema) throws here, so the caller can still
 * answer with an error status; one that fails later errors the stream, which
 * ends the response early without the epilogue: a truncated script fails on
 * replay rather than restoring half a database as if it were whole.
 */
export async function dumpSchemaStream(t: DumpTarget): Promise<ReadableStream<Uint8Array>> {
  const env = pgEnv(t.url, "previewd-export");

  const args = [
    t.pgDump ?? "pg_dump",
    // a pg_dump pattern; double quotes make it match this exact name
    `--schema="${t.schema}"`,
    "--no-owner",
    "--no-privileges",
    "--no-publications",
    "--no-subscriptions",
    "--no-security-labels",
    "--no-tablespaces",
    "--quote-all-identifiers",
    "--lock-wait-timeout=10000",
    "--encoding=UTF8",
    ...(t.snapshot ? [`--snapshot=${t.snapshot}`] : []),
  ];
  const proc = Bun.spawn(args, { env, stdout: "pipe", stderr: "pipe", stdin: "ignore" });
  const stderr = new Response(proc.stderr).text();
  const failed = async () => new Error(`pg_dump of schema ${t.schema} failed (exit ${await proc.exited}): ${(await stderr).trim()}`);
  const reader = proc.stdout.getReader();
  const first = await reader.read();
  if (first.done && (await proc.exited) !== 0) throw await failed();
  const tail = new TextEncoder().encode(epilogue(t.schema, t.into ?? "public"));
  let ended = first.done;
  return new ReadableStream<Uint8Array>({
    start(ctrl) {
      if (first.value) ctrl.enqueue(first.value);
    },
    async pull(ctrl) {
      if (!ended) {
        const next = await reader.read();
        if (!next.done) return ctrl.enqueue(next.value);
        ended = true;
      }
      if ((await proc.exited) !== 0) return ctrl.error(await failed());
      ctrl.enqueue(tail);
      ctrl.close();
    },
    cancel() {
      proc.kill();
    },
  });
}

function epilogue(from: string, into: string): string {
  const lines = ["", "--", `-- previewd: the objects move from schema ${from} to ${into}.`, "--", ""];
  if (into === "public") {
    // The empty database's own public schema gives way (no CASCADE: if it
    // holds anything, replay stops here rather than destroy it), and the
    // renamed one takes its owner, grant and comment.
    lines.push(
      `DROP SCHEMA IF EXISTS "public";`,
      `ALTER SCHEMA ${ident(from)} RENAME TO "public";`,
      `ALTER SCHEMA "public" OWNER TO pg_database_owner;`,
      `GRANT USAGE ON SCHEMA "public" TO PUBLIC;`,
      `COMMENT ON SCHEMA "public" IS 'standard public schema';`,
    );
  } else {
    lines.push(`ALTER SCHEMA ${ident(from)} RENAME TO ${ident(into)};`, `COMMENT ON SCHEMA ${ident(into)} IS NULL;`);
  }
  return lines.join("\n") + "\n";
}
