// File contents as clients send them: a string is UTF-8 text, {base64} is any
// bytes (images, fonts, wasm). Every place that needs bytes or sizes goes
// through these helpers, so the two forms never get mixed up.
import type { FileContent } from "./types.ts";

export type { FileContent, FileMap } from "./types.ts";

export function isBinary(c: FileContent): c is { base64: string } {
  return typeof c !== "string";
}

export function contentBytes(c: FileContent): Buffer {
  return typeof c === "string" ? Buffer.from(c, "utf8") : Buffer.from(c.base64, "base64");
}

/** The content as text; base64 is decoded as UTF-8 (invalid bytes become U+FFFD). */
export function contentText(c: FileContent): string {
  return typeof c === "string" ? c : Buffer.from(c.base64, "base64").toString("utf8");
}

/** Size in bytes once written, computed without decoding base64. */
export function byteLength(c: FileContent): number {
  return typeof c === "string" ? Buffer.byteLength(c, "utf8") : Buffer.byteLength(c.base64, "base64");
}

const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/**
 * The natural form of some bytes: text when they are valid UTF-8 without NUL
 * (what people read and diff), else base64. Both write back the same bytes.
 */
export function fromBytes(bytes: Uint8Array): FileContent {
  if (!bytes.includes(0)) {
    try {
      return utf8.decode(bytes);
    } catch {}
  }
  return { base64: Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("base64") };
}
