// Finds where a chunked body ends (RFC 9112 §7.1) without changing a byte of
// it: the relay passes the framing through as it came and only needs to know
// when the message is over. Sizes are hex digits only (no sign, no spaces, at
// most 15 digits) and every line ends in CRLF: a lenient chunk parser is the
// other half of request smuggling.

const MAX_LINE = 4096; // a size line with its extensions, or one trailer line
const MAX_TRAILERS = 64 * 1024;

const enum S {
  Size,
  Ext,
  SizeLf,
  Data,
  DataCr,
  DataLf,
  TrailerStart,
  Trailer,
  TrailerLf,
  EndLf,
  Done,
}

export class ChunkedScanner {
  private state = S.Size;
  private digits = 0;
  private size = 0;
  private remaining = 0;
  private line = 0;
  private trailers = 0;
  /** Set when the framing is invalid; the message cannot be relayed further. */
  error: string | undefined;

  get done(): boolean {
    return this.state === S.Done;
  }

  /**
   * Reads `buf` from `start`; returns the index just past the body's last byte
   * when it ends inside `buf`, -1 when all of it belongs to the body (or the
   * framing is invalid: see `error`).
   */
  feed(buf: Uint8Array, start = 0): number {
    let i = start;
    const n = buf.length;
    while (i < n) {
      const c = buf[i]!;
      switch (this.state) {
        case S.Size: {
          const v = hex(c);
          if (v >= 0 && this.digits < 15) {
            this.size = this.size * 16 + v;
            this.digits++;
          } else if (this.digits > 0 && (c === 0x3b || c === 0x20 || c === 0x09)) {
            this.state = S.Ext;
            this.line = 0;
          } else if (this.digits > 0 && c === 0x0d) this.state = S.SizeLf;
          else return this.fail(this.digits >= 15 ? "chunk size too large" : "invalid chunk size");
          i++;
          break;
        }
        case S.Ext:
          if (c === 0x0d) this.state = S.SizeLf;
          else if (c === 0x0a || ++this.line > MAX_LINE) return this.fail("invalid chunk extension");
          i++;
          break;
        case S.SizeLf:
          if (c !== 0x0a) return this.fail("chunk size line without CRLF");
          i++;
          if (this.size === 0) {
            this.state = S.TrailerStart;
          } else {
            this.remaining = this.size;
            this.state = S.Data;
          }
          break;
        case S.Data: {
          const take = Math.min(this.remaining, n - i);
          i += take;
          this.remaining -= take;
          if (this.remaining === 0) this.state = S.DataCr;
          break;
        }
        case S.DataCr:
          if (c !== 0x0d) return this.fail("chunk data longer than its size");
          this.state = S.DataLf;
          i++;
          break;
        case S.DataLf:
          if (c !== 0x0a) return this.fail("chunk data without CRLF");
          this.state = S.Size;
          this.size = 0;
          this.digits = 0;
          i++;
          break;
        case S.TrailerStart:
          if (c === 0x0d) this.state = S.EndLf;
          else {
            this.state = S.Trailer;
            this.line = 0;
          }
          if (c === 0x0a) return this.fail("trailer line without CR");
          i++;
          break;
        case S.Trailer:
          if (c === 0x0d) this.state = S.TrailerLf;
          else if (c === 0x0a || ++this.line > MAX_LINE) return this.fail("invalid trailer line");
          if ((this.trailers += 1) > MAX_TRAILERS) return this.fail("trailers too large");
          i++;
          break;
        case S.TrailerLf:
          if (c !== 0x0a) return this.fail("trailer line without CRLF");
          this.state = S.TrailerStart;
          i++;
          break;
        case S.EndLf:
          if (c !== 0x0a) return this.fail("last chunk without CRLF");
          this.state = S.Done;
          return i + 1;
        case S.Done:
          return i;
      }
    }
    return -1;
  }

  private fail(reason: string): number {
    this.error = reason;
    return -1;
  }
}

function hex(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  if (c >= 0x41 && c <= 0x46) return c - 0x37;
  return -1;
}
