// Where a message body ends, by the framing its head declared (RFC 9112 §6.3).
import { ChunkedScanner } from "./chunked.ts";

export class BodyEnd {
  private constructor(
    private remaining: number,
    private readonly scanner?: ChunkedScanner,
    /** Read until the connection closes (a response with neither length nor chunked). */
    readonly untilClose = false,
  ) {}

  static none = () => new BodyEnd(0);
  static length = (n: number) => new BodyEnd(n);
  static chunked = () => new BodyEnd(0, new ChunkedScanner());
  static untilClose = () => new BodyEnd(Infinity, undefined, true);

  get done(): boolean {
    return this.scanner ? this.scanner.done : this.remaining === 0;
  }

  get error(): string | undefined {
    return this.scanner?.error;
  }

  /** The index just past the body's end within `buf` (from `start`), or -1 when all of it is body. */
  feed(buf: Uint8Array, start: number): number {
    if (this.scanner) return this.scanner.done ? start : this.scanner.feed(buf, start);
    const avail = buf.length - start;
    if (avail < this.remaining) {
      this.remaining -= avail;
      return -1;
    }
    const end = start + this.remaining;
    this.remaining = 0;
    return end;
  }
}
