/**
 * Group commit for etcd transactions. While one transaction is on its way to etcd, the ones
 * asked for meanwhile wait; when it returns, they go together as one transaction holding each
 * as a nested transaction (etcd >= 3.3) with its own compares and writes, and each learns its
 * own outcome. Under light load nothing waits (a lone transaction goes at once, as before);
 * under load, N round trips, N raft proposals and N watch messages become one: the gRPC stack
 * per call was the largest share of the plugin's CPU when thousands of endpoints came at once.
 *
 * etcd evaluates every compare of a transaction, nested ones included, before it applies any
 * write. A batch is therefore only the same as running its members one after another if no
 * member writes a key that another member reads or writes: batches are formed that way
 * (disjointBatch), and a member that deletes or compares by prefix always goes alone.
 */

/** What a member reads (compares) and writes, by key. */
export interface TxnFootprint {
  readonly compares: readonly string[];
  readonly writes: readonly string[];
  /** Deletes or compares a whole prefix: the keys it touches are not known one by one. */
  readonly byPrefix: boolean;
}

/**
 * Takes from `pending` (in order, skipping members that clash with ones already taken) at most
 * `max` members that touch no key another writes; they leave `pending`, the rest stay in order.
 */
export function disjointBatch<T>(pending: T[], max: number, footprint: (item: T) => TxnFootprint): T[] {
  const taken: T[] = [];
  const rest: T[] = [];
  const written = new Set<string>();
  const read = new Set<string>();
  let alone = false; // the first member works by prefix: nothing joins it
  for (const item of pending) {
    const f = footprint(item);
    const fits =
      !alone &&
      taken.length < max &&
      (taken.length === 0 ||
        (!f.byPrefix && f.writes.every((k) => !written.has(k) && !read.has(k)) && f.compares.every((k) => !written.has(k))));
    if (!fits) {
      rest.push(item);
      continue;
    }
    taken.push(item);
    alone = f.byPrefix;
    for (const k of f.writes) written.add(k);
    for (const k of f.compares) read.add(k);
  }
  pending.splice(0, pending.length, ...rest);
  return taken;
}

interface Waiting<T> {
  readonly item: T;
  /** Worked out once: a member waiting behind many batches is looked at by each. */
  readonly footprint: TxnFootprint;
  /** performance.now() when it was asked for. */
  readonly askedAt: number;
  resolve(outcome: number | undefined): void;
  reject(err: unknown): void;
}

/** How long transactions take, for the metrics (each call is optional). */
export interface TxnTimings {
  /** A transaction was answered `seconds` after it was asked for, its wait for the commit ahead included. */
  answered?(seconds: number): void;
  /** One commit, one round trip to etcd, carried `members` transactions in `seconds`. */
  committed?(seconds: number, members: number): void;
}

/**
 * The queue in front of etcd. `send` runs a batch (one member: a plain transaction) and
 * returns, per member, the revision its writes got, undefined when its compares failed, or an
 * error that member fails with (its outcome is not known).
 * A batch that etcd refuses as a whole for a reason other than being unreachable is split:
 * each member then goes alone, so that one bad member cannot fail the others. When etcd is
 * unreachable, the batch and every transaction waiting fail at once.
 */
export class TxnBatcher<T> {
  private readonly pending: Array<Waiting<T>> = [];
  private inFlight = 0;

  constructor(
    private readonly send: (batch: readonly T[]) => Promise<ReadonlyArray<number | undefined | Error>>,
    private readonly footprint: (item: T) => TxnFootprint,
    private readonly isUnreachable: (err: unknown) => boolean,
    private readonly timings: TxnTimings = {},
    /** etcd refuses more than 128 operations per transaction level by default (--max-txn-ops). */
    private readonly maxBatch = 64,
    private readonly maxInFlight = 1,
  ) {}

  submit(item: T): Promise<number | undefined> {
    return new Promise((resolve, reject) => {
      this.pending.push({ item, footprint: this.footprint(item), askedAt: performance.now(), resolve, reject });
      this.pump();
    });
  }

  private pump(): void {
    while (this.inFlight < this.maxInFlight && this.pending.length > 0) {
      const batch = disjointBatch(this.pending, this.maxBatch, (w) => w.footprint);
      this.inFlight++;
      void this.run(batch).finally(() => {
        this.inFlight--;
        this.pump();
      });
    }
  }

  private async run(batch: ReadonlyArray<Waiting<T>>): Promise<void> {
    try {
      const sentAt = performance.now();
      const outcomes = await this.send(batch.map((w) => w.item));
      const now = performance.now();
      this.timings.committed?.((now - sentAt) / 1000, batch.length);
      batch.forEach((w, i) => {
        this.timings.answered?.((now - w.askedAt) / 1000);
        const outcome = outcomes[i];
        if (outcome instanceof Error) w.reject(outcome);
        else w.resolve(outcome);
      });
    } catch (err) {
      if (this.isUnreachable(err)) {
        // The ones waiting would only wait for the same dead etcd, one call timeout each.
        for (const w of [...batch, ...this.pending.splice(0)]) w.reject(err);
        return;
      }
      if (batch.length === 1) {
        batch[0]!.reject(err);
        return;
      }
      await Promise.all(batch.map((w) => this.run([w])));
    }
  }
}
