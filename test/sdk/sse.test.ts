// The SDK's pure parts: the SSE parser on awkward chunkings and line ends,
// and the files diff the hook PATCHes.
import { expect, test } from "bun:test";
import { parseSse, type SseMessage } from "../../sdk/src/index.ts";
import { diff } from "../../sdk/src/orchestrator.ts";

function streamOf(chunks: string[]): ReadableStream<Uint8Array> {
  const enc = new TextEncoder();
  return new ReadableStream({
    start(ctrl) {
      for (const c of chunks) ctrl.enqueue(enc.encode(c));
      ctrl.close();
    },
  });
}

async function all(chunks: string[]): Promise<SseMessage[]> {
  const out: SseMessage[] = [];
  for await (const m of parseSse(streamOf(chunks))) out.push(m);
  return out;
}

test("events split anywhere, CRLF / CR / LF line ends, comments, multi-line data, retry", async () => {
  const text = 'event: preview\r\ndata: {"a":1}\r\n\r\n: keep-alive\n\nevent: deployment\rdata: line1\rdata:line2\r\rretry: 1500\ndata: x\n\n';
  const expected = [
    { event: "preview", data: '{"a":1}' },
    { event: "deployment", data: "line1\nline2" },
    { event: "message", data: "x", retry: 1500 },
  ];
  expect(await all([text])).toEqual(expected);
  // Every split point, including between \r and \n.
  for (let i = 1; i < text.length; i++) expect(await all([text.slice(0, i), text.slice(i)])).toEqual(expected);
  // One byte at a time, with a multi-byte character in the data.
  expect(await all([..."data: héllo ✓\n\n"])).toEqual([{ event: "message", data: "héllo ✓" }]);
});

test("a last event without its blank line is dropped (the stream was cut mid-event)", async () => {
  expect(await all(["event: preview\ndata: {}\n\nevent: preview\ndata: {\"cut\""])).toEqual([{ event: "preview", data: "{}" }]);
});

test("diff: changed and new paths, deleted paths, binary content, nothing when equal", () => {
  const from = { "a.txt": "1", "b.txt": "2", "img.png": { base64: "AAAA" } };
  expect(diff(from, { ...from })).toBeUndefined();
  expect(diff(from, { "a.txt": "1", "b.txt": "3", "c.txt": "new", "img.png": { base64: "AAAA" } })).toEqual({ files: { "b.txt": "3", "c.txt": "new" }, delete: [] });
  expect(diff(from, { "a.txt": "1", "img.png": { base64: "BBBB" } })).toEqual({ files: { "img.png": { base64: "BBBB" } }, delete: ["b.txt"] });
});
