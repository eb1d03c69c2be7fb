import { describe, expect, test } from "bun:test";
import { splitStatements } from "../../src/db/split.ts";

describe("splitStatements", () => {
  test("splits at top-level semicolons and drops empty and comment-only pieces", () => {
    expect(splitStatements("create table a (id int);\n\n insert into a values (1) ;;-- done\n")).toEqual([
      "create table a (id int)",
      "insert into a values (1)",
    ]);
  });

  test("keeps a last statement without a semicolon", () => {
    expect(splitStatements("select 1; select 2")).toEqual(["select 1", "select 2"]);
  });

  test("ignores semicolons inside strings, E-strings, identifiers and comments", () => {
    const script = [
      "insert into t values ('a;b', 'it''s; fine')",
      "insert into t values (E'x\\';y')",
      'create table "we;ird" (id int)',
      "select 1 -- trailing; comment\n + 1",
      "select /* outer /* nested; */ still; */ 2",
    ].join(";\n");
    expect(splitStatements(script)).toEqual([
      "insert into t values ('a;b', 'it''s; fine')",
      "insert into t values (E'x\\';y')",
      'create table "we;ird" (id int)',
      "select 1 -- trailing; comment\n + 1",
      "select /* outer /* nested; */ still; */ 2",
    ]);
  });

  test("keeps dollar-quoted function bodies whole, tagged or not", () => {
    const fn1 = "create function f() returns int language plpgsql as $$ begin perform 1; return 2; end $$";
    const fn2 = "create function g() returns text language sql as $body$ select 'a;$$;b' $body$";
    expect(splitStatements(`${fn1};\n${fn2};select $1`)).toEqual([fn1, fn2, "select $1"]);
  });

  test("keeps BEGIN ATOMIC bodies whole, with CASE ... END inside", () => {
    const fn =
      "create function h(x int) returns int language sql begin atomic select case when x > 0 then 1 else 0 end; select x; end";
    expect(splitStatements(`${fn};\nselect 3;`)).toEqual([fn, "select 3"]);
  });

  test("a plain BEGIN; ... COMMIT; splits into its statements", () => {
    expect(splitStatements("BEGIN; create table x (id int); COMMIT;")).toEqual(["BEGIN", "create table x (id int)", "COMMIT"]);
  });
});
