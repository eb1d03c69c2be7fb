// An install's output: kept (bounded) for the failure message and for callers
// that join late, and sent live to everyone subscribed.
const MAX_CHARS = 256 * 1024;

export class OutputLog {
  private text = "";
  private readonly listeners = new Set<(text: string) => void>();

  write(text: string): void {
    this.text += text;
    if (this.text.length > MAX_CHARS) this.text = this.text.slice(-MAX_CHARS);
    for (const l of this.listeners) l(text);
  }

  /** Replays what was written so far, then follows. Returns the unsubscribe function. */
  subscribe(listener: (text: string) => void): () => void {
    if (this.text) listener(this.text);
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** The last `n` non-empty lines. */
  tail(n: number): string {
    return this.text.split("\n").filter((l) => l.trim()).slice(-n).join("\n");
  }

  /**
   * What a person needs from a failed install: from the package manager's
   * first error line (npm prints the cause, then pages of usage help), at
   * most `n` lines; else the last `n` lines.
   */
  errorExcerpt(n: number): string {
    const lines = this.text.split("\n").filter((l) => l.trim()).slice(-300);
    const first = lines.findIndex((l) => /^(npm error|npm ERR!|ERR_PNPM|\s*ERR_PNPM|error |error:|Error:)/.test(l));
    return (first >= 0 ? lines.slice(first, first + n) : lines.slice(-n)).join("\n");
  }
}
