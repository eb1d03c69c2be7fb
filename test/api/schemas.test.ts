// The request schemas on their own (no daemon): what a hostile or careless
// client sends is refused with a message that names what was wrong.
import { describe, expect, test } from "bun:test";
import { CreateBody, parse, PatchFilesBody } from "../../src/api/schemas.ts";

const refusal = (schema: Parameters<typeof parse>[0], raw: string): string => {
  try {
    parse(schema, JSON.parse(raw));
  } catch (err) {
    return (err as Error).message;
  }
  throw new Error(`accepted: ${raw}`);
};

describe("names a plain object would lose", () => {
  // Raw JSON: JSON.stringify of an object literal would not keep a "__proto__" key; JSON.parse does.
  for (const name of ["__proto__", "constructor", "prototype"]) {
    test(`a file at the app root named ${name} is refused by name, on create and on PATCH`, () => {
      for (const schema of [CreateBody, PatchFilesBody]) {
        const message = refusal(schema, `{"files": {"server.js": "x", ${JSON.stringify(name)}: "y"}}`);
        expect(message).toContain(`file ${JSON.stringify(name)}`);
        expect(message).toContain("not allowed");
      }
    });

    test(`an environment variable named ${name} is refused by name`, () => {
      expect(refusal(CreateBody, `{"files": {"a": "b"}, "env": {"OK": "1", ${JSON.stringify(name)}: "x"}}`)).toContain(`environment variable ${JSON.stringify(name)} is not allowed`);
    });
  }

  test("the same names inside a folder are ordinary files", () => {
    const body = parse(CreateBody, JSON.parse(`{"files": {"src/constructor": "a", "lib/__proto__": "b", "prototype/x.js": "c"}}`));
    expect(Object.keys(body.files).sort()).toEqual(["lib/__proto__", "prototype/x.js", "src/constructor"]);
  });

  test("files that are not an object are refused saying what files must be", () => {
    expect(refusal(CreateBody, `{"files": ["a.js"]}`)).toContain("files must be an object of path: content");
  });
});
