// A progress line on stderr for work over many files ("freeing 4,210/10,000 pre-images"), only
// when stderr is a terminal: rewritten in place with \r, first after 250 ms (a quick run shows
// nothing; SHIT_PROGRESS_AFTER_MS changes it), then at most every 100 ms, cleared at the end.
// shit-apply draws the same line for an undo's steps (native/apply/apply.c).
export class ProgressLine {
  private done = 0;
  private next: number;
  private shown = false;
  private readonly on: boolean;

  constructor(
    private readonly label: string,
    private readonly total: number,
    private readonly unit: string,
  ) {
    this.on = !!process.stderr.isTTY && total > 0;
    this.next = Date.now() + Number(process.env.SHIT_PROGRESS_AFTER_MS ?? 250);
  }

  /** One more done, or `done` of them. */
  step(done?: number): void {
    this.done = done ?? this.done + 1;
    if (!this.on) return;
    const now = Date.now();
    if (now < this.next) return;
    this.next = now + 100;
    this.shown = true;
    process.stderr.write(`\r${this.label} ${this.done.toLocaleString("en-US")}/${this.total.toLocaleString("en-US")} ${this.unit}`);
  }

  end(): void {
    if (this.shown) process.stderr.write("\r\x1b[K");
    this.shown = false;
  }
}
