/** Sleep that tests can shorten; every wait in the code goes through it. */
export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Rejects with `onTimeout()` if `work` has not settled within `ms`. */
export async function withTimeout<T>(work: Promise<T>, ms: number, onTimeout: () => Error): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(onTimeout()), ms);
  });
  try {
    return await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Runs `step` until it succeeds, backing off from 250 ms to 5 s: for start-up steps that are
 * safe to repeat and must not end the process when etcd is briefly away.
 */
export async function untilDone<T>(step: () => Promise<T>, onRetry: (err: unknown, delayMs: number) => void): Promise<T> {
  for (let delay = 250; ; delay = Math.min(delay * 2, 5000)) {
    try {
      return await step();
    } catch (err) {
      onRetry(err, delay);
      await sleep(delay);
    }
  }
}

/**
 * A retry after a failure, at most one waiting at a time: a failure while one waits adds none.
 * Each failure arming a timer of its own multiplied the retries: every event that ran a pass
 * during a long failure (the engine away, one network it refuses) left one more timer that
 * ran a pass, failed and armed the next, for as long as the failure lasted.
 */
export class PendingRetry {
  private timer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(private readonly delayMs: number, private readonly retry: () => void) {}

  arm(): void {
    if (this.closed) return;
    this.timer ??= setTimeout(() => {
      this.timer = undefined;
      this.retry();
    }, this.delayMs).unref();
  }

  cancel(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** Cancels, and arms no more: a retry under way when its owner stops cannot set up another. */
  close(): void {
    this.closed = true;
    this.cancel();
  }
}
