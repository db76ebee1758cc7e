import type { Logger } from './logger.js';

/**
 * A warning that can come a thousand times a second, such as calls refused by an overloaded
 * host: the first of a burst is logged at once, the rest of that second as one line with
 * their count and the last message. The log still says what happened, and writing it does not
 * cost the host most when it can least afford it (at most two lines a second).
 */
export class BurstLog {
  private held = 0;
  private lastMessage = '';
  private window: NodeJS.Timeout | undefined;

  constructor(
    private readonly log: Logger,
    private readonly windowMs = 1000,
  ) {}

  warn(fields: Record<string, unknown>, message: string): void {
    if (this.window) {
      this.held++;
      this.lastMessage = message;
      return;
    }
    this.log.warn(fields, message);
    this.window = setTimeout(() => this.close(fields), this.windowMs);
    this.window.unref();
  }

  private close(fields: Record<string, unknown>): void {
    this.window = undefined;
    if (!this.held) return;
    this.log.warn({ ...fields, more: this.held }, `${this.held} more like it in the last ${this.windowMs} ms, the last: ${this.lastMessage}`);
    this.held = 0;
  }
}
