/**
 * Runs a pass that brings something in line, never two at once: a request while one runs asks
 * for one more pass after it (requests meanwhile coalesce into that one). After `stop`, no new
 * pass starts; `idle` resolves when the running one ends.
 */
export class PassRunner {
  private running: Promise<void> | undefined;
  private again = false;
  private stopped = false;

  constructor(private readonly pass: () => Promise<void>) {}

  get isStopped(): boolean {
    return this.stopped;
  }

  schedule(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    void this.run();
  }

  /** Runs a pass now (or joins the one running) and resolves when it, and any asked for meanwhile, ended. */
  run(): Promise<void> {
    this.running ??= (async () => {
      do {
        this.again = false;
        await this.pass();
      } while (this.again && !this.stopped);
    })().finally(() => (this.running = undefined));
    return this.running;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.running;
  }
}
