// `previewd deploy` on a refused update: the refusal's confirmation texts are
// printed as --confirm arguments ready to paste (shell-quoted), and repeated
// --confirm flags all reach the request.
import { expect, test } from "bun:test";
import { parseArgs } from "../../src/cli/args.ts";
import { followDeployment } from "../../src/cli/deploy.ts";

test("a refused deploy prints each change and the --confirm that carries it", async () => {
  let printed = "";
  const refused = {
    id: "d_x", status: "failed", steps: [{ name: "diffing", startedAt: "2026-01-01T00:00:00Z", endedAt: "2026-01-01T00:00:01Z", detail: "failed" }],
    error: { step: "diffing", message: "the schema change is not carried without confirmation", details: { confirm: [
      { change: "column products.legacy is not in the preview", options: ["drop column products.legacy"] },
      { change: "column \"Order Items\".\"it's\" is not in the preview", options: ["rename column \"Order Items\".\"it's\" to b", "drop column \"Order Items\".\"it's\""] },
    ] } },
  };
  const code = await followDeployment(async () => new Response("unused"), refused, { json: false, tty: false, write: (s) => (printed += s) });
  expect(code).toBe(1);
  expect(printed.split("\n").slice(-7)).toEqual([
    "failed at diffing: the schema change is not carried without confirmation",
    "  column products.legacy is not in the preview",
    "    --confirm 'drop column products.legacy'",
    "  column \"Order Items\".\"it's\" is not in the preview",
    "    --confirm 'rename column \"Order Items\".\"it'\\''s\" to b'",
    "    --confirm 'drop column \"Order Items\".\"it'\\''s\"'",
    "",
  ]);
});

test("--confirm may be given more than once", () => {
  const p = parseArgs(["abc", "--confirm", "drop column a.b", "--confirm=drop table c", "--create"], { flags: ["--create"], valued: ["--confirm"] });
  expect(p.lists.get("--confirm")).toEqual(["drop column a.b", "drop table c"]);
  expect(p.flags.has("--create")).toBe(true);
});
