import { describeExchange, type Exchange } from './client.js';
import { judge } from './docker-rules.js';

interface Holding {
  readonly key: string;
  readonly what: string;
  readonly giveBack: () => Promise<Exchange>;
}

/**
 * Everything the kit holds in the plugin (pool, addresses, network, endpoint, a join), with
 * the call that gives it back. The lifecycle drops an entry when its own release succeeds;
 * whatever is still held at the end (a check failed midway) is given back newest first, so
 * the kit leaves nothing behind either way.
 */
export class Ledger {
  private readonly held: Holding[] = [];

  hold(key: string, what: string, giveBack: () => Promise<Exchange>): void {
    this.drop(key);
    this.held.push({ key, what, giveBack });
  }

  drop(key: string): void {
    const i = this.held.findIndex((h) => h.key === key);
    if (i >= 0) this.held.splice(i, 1);
  }

  has(key: string): boolean {
    return this.held.some((h) => h.key === key);
  }

  /** What is still held, oldest first. */
  remaining(): string[] {
    return this.held.map((h) => h.what);
  }

  /** Gives everything back; returns one line per give-back that the plugin refused. */
  async giveBackAll(): Promise<string[]> {
    const refused: string[] = [];
    while (this.held.length > 0) {
      const h = this.held.pop()!;
      try {
        const x = await h.giveBack();
        if (!judge(x.path, x.reply).success) refused.push(`${h.what}: ${describeExchange(x)}`);
      } catch (err) {
        refused.push(`${h.what}: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
    return refused;
  }
}
