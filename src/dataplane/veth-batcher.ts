import type { Runner } from './runner.js';

/** How long Joins are gathered: a process spawn costs more main-thread time than this wait. */
const GATHER_MS = 2;

interface Pending {
  readonly lines: readonly string[];
  readonly resolve: (ok: boolean) => void;
}

/**
 * Gathers the veth pairs that concurrent Join calls ask for and makes them with one
 * `ip -batch` process: when many containers start at once, process spawns, not the kernel,
 * are the cost. Each request learns whether all of its lines went through.
 */
export class VethBatcher {
  private queue: Pending[] = [];
  private scheduled = false;

  constructor(private readonly run: Runner) {}

  /** Resolves true when every line succeeded, false when any of them failed. */
  submit(lines: readonly string[]): Promise<boolean> {
    return new Promise((resolve) => {
      this.queue.push({ lines, resolve });
      if (!this.scheduled) {
        this.scheduled = true;
        setTimeout(() => void this.flush(), GATHER_MS);
      }
    });
  }

  private async flush(): Promise<void> {
    const batch = this.queue;
    this.queue = [];
    this.scheduled = false;
    const all = batch.flatMap((p) => p.lines);
    let failed: Set<number>;
    try {
      failed = await this.run.batchReport('ip', all);
    } catch {
      failed = new Set(all.map((_, i) => i + 1)); // ip did not run at all: everything failed
    }
    let line = 1;
    for (const p of batch) {
      const mine = p.lines.map((_, i) => line + i);
      line += p.lines.length;
      p.resolve(!mine.some((n) => failed.has(n)));
    }
  }
}
