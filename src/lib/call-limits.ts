/**
 * Bounds on the calls a plugin works on: how many at once, and how many per second (a token
 * bucket that holds one second's worth, so a burst of that size passes). A call over either
 * bound is refused at once with a clear error instead of queueing without end: the engine
 * retries or shows it, and the plugin's memory and etcd's load stay bounded.
 */
export interface CallLimitSettings {
  /** Calls in flight at once; 0: no bound. */
  readonly maxInFlight: number;
  /** Calls started per second, sustained; 0: no bound. */
  readonly maxPerSecond: number;
}

export class CallLimits {
  private inFlight = 0;
  private tokens: number;
  private refilledAt: number;

  constructor(
    private readonly settings: CallLimitSettings,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.tokens = settings.maxPerSecond;
    this.refilledAt = now();
  }

  /** Takes a slot, or says why not (the caller answers with that). `release` must follow a slot. */
  acquire(): { ok: true } | { ok: false; why: string } {
    const { maxInFlight, maxPerSecond } = this.settings;
    if (maxInFlight > 0 && this.inFlight >= maxInFlight) {
      return { ok: false, why: `ts-overlay is busy: ${this.inFlight} calls in progress (limit ${maxInFlight}, --max-calls-in-flight); try again` };
    }
    if (maxPerSecond > 0) {
      const t = this.now();
      this.tokens = Math.min(maxPerSecond, this.tokens + ((t - this.refilledAt) / 1000) * maxPerSecond);
      this.refilledAt = t;
      if (this.tokens < 1) return { ok: false, why: `ts-overlay is busy: more than ${maxPerSecond} calls per second (--max-call-rate); try again` };
      this.tokens -= 1;
    }
    this.inFlight++;
    return { ok: true };
  }

  release(): void {
    this.inFlight = Math.max(0, this.inFlight - 1);
  }
}
