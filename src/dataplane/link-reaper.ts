import { errorMessage } from '../lib/errors.js';
import { BatchSession, type LineOutcome, SessionEnded } from './batch-session.js';

/**
 * The device group a doomed interface is put in for the moment before it is deleted
 * (`ip link del group G` deletes every device of the namespace in group G). Nothing else uses
 * it: groups are small numbers when set by hand or by /etc/iproute2/group; this one spells
 * "tsod" in ASCII.
 */
export const DELETION_GROUP = 0x74736f64;

/** A name that is not in this namespace: never made, deleted already, or inside a container. */
const ABSENT = /Cannot find device/;
/** The session's process knew the device by an index that is gone (see BatchSession). */
const STALE = /No such device|unknown ifindex/;

/** Names that could not be deleted, each with what the tool said. Absent names are not failures. */
export type DeleteFailures = Map<string, string>;

interface Waiting {
  readonly names: readonly string[];
  readonly resolve: (failures: DeleteFailures) => void;
}

/**
 * Deletes interfaces, many in one request. Unregistering a device ends with waits for RCU grace
 * periods, which the process that asked sleeps through: about 16 ms per `ip link del` here, and
 * half a millisecond of CPU, against 0.2 ms and 0.16 ms each for a thousand deleted together
 * (bench/kernel-change-cost.ts). So the names of one request are put in DELETION_GROUP and the
 * group is deleted: one unregister for all of them. Names given while a request is under way
 * go together in the next.
 *
 * It has an `ip` session of its own, so that those waits never hold up the session that makes
 * interfaces and peer entries.
 */
export class LinkReaper {
  private readonly session: BatchSession;
  private waiting: Waiting[] = [];
  private running = false;

  constructor(netns: string | undefined) {
    this.session = new BatchSession('ip', netns);
  }

  /** Resolves once the names are gone (or were not here), with those that could not be deleted. */
  delete(names: readonly string[]): Promise<DeleteFailures> {
    if (names.length === 0) return Promise.resolve(new Map());
    return new Promise((resolve) => {
      this.waiting.push({ names, resolve });
      if (this.running) return;
      this.running = true;
      // Names given in the same turn of the event loop go in the same request.
      setImmediate(() => void this.next());
    });
  }

  /** Ends the session; deletions under way fail (a reconcile removes what they left). */
  close(): void {
    this.session.close();
  }

  private async next(): Promise<void> {
    const batch = this.waiting;
    this.waiting = [];
    if (batch.length === 0) {
      this.running = false;
      return;
    }
    const names = [...new Set(batch.flatMap((w) => w.names))];
    let waiting = batch;
    const answer = (settled: (name: string) => boolean, failures: DeleteFailures) => {
      const [done, rest] = partition(waiting, (w) => w.names.every(settled));
      for (const w of done) w.resolve(new Map(w.names.flatMap((n) => (failures.has(n) ? [[n, failures.get(n)!] as const] : []))));
      waiting = rest;
    };
    const failures = await this.deleteTogether(names, false, answer).catch((err: unknown) => new Map(names.map((n) => [n, errorMessage(err)])));
    answer(() => true, failures);
    void this.next();
  }

  /**
   * One request: every name into the group, then the group deleted. Stale names once more in a
   * new process. `grouped` hears, before the deletion, which names it is still to do: a caller
   * with none of them is answered then, not after the group's unregister. With an engine that is
   * every Leave (the interface is still in the container's namespace, and the engine takes it
   * out afterwards for DeleteEndpoint to delete).
   */
  private async deleteTogether(names: readonly string[], retry: boolean, grouped: (settled: (name: string) => boolean, failures: DeleteFailures) => void): Promise<DeleteFailures> {
    const outcomes = await this.run(names.map((n) => `link set ${n} group ${DELETION_GROUP}`));
    if (outcomes instanceof SessionEnded) return new Map(names.map((n) => [n, outcomes.message]));
    const failures: DeleteFailures = new Map();
    const inGroup: string[] = [];
    const stale: string[] = [];
    names.forEach((name, i) => {
      const said = outcomes[i];
      if (said === undefined) inGroup.push(name);
      else if (STALE.test(said) && !retry) stale.push(name);
      else if (!ABSENT.test(said)) failures.set(name, said);
    });
    const left = new Set([...inGroup, ...stale]);
    grouped((name) => !left.has(name), failures);
    if (inGroup.length > 0) {
      const deleted = await this.run([`link del group ${DELETION_GROUP}`]);
      const groupSaid = deleted instanceof SessionEnded ? deleted.message : deleted[0];
      // "No such device": its devices went meanwhile (another process of ours deleting the group
      // too). Any other failure: one by one.
      if (groupSaid !== undefined && !STALE.test(groupSaid)) for (const [name, said] of await this.deleteOneByOne(inGroup)) failures.set(name, said);
    }
    if (stale.length > 0) {
      this.session.renew();
      for (const [name, said] of await this.deleteTogether(stale, true, () => undefined)) failures.set(name, said);
    }
    return failures;
  }

  /**
   * The group could not be deleted as a whole (the kernel deletes all of it or nothing, and a
   * device in it cannot be deleted): each device back in the default group, so that none is
   * left to block the next deletion, then each deleted on its own.
   */
  private async deleteOneByOne(names: readonly string[]): Promise<DeleteFailures> {
    const outcomes = await this.run([...names.map((n) => `link set ${n} group default`), ...names.map((n) => `link del ${n}`)]);
    if (outcomes instanceof SessionEnded) return new Map(names.map((n) => [n, outcomes.message]));
    return new Map(names.flatMap((name, i) => {
      const said = outcomes[names.length + i];
      return said === undefined || ABSENT.test(said) ? [] : [[name, said] as const];
    }));
  }

  /** The outcomes of a request, or the session ending under it. */
  private async run(lines: readonly string[]): Promise<LineOutcome[] | SessionEnded> {
    try {
      return await this.session.run(lines);
    } catch (err) {
      if (err instanceof SessionEnded) return err;
      throw err;
    }
  }
}

function partition<T>(items: readonly T[], test: (item: T) => boolean): [T[], T[]] {
  const yes: T[] = [];
  const no: T[] = [];
  for (const item of items) (test(item) ? yes : no).push(item);
  return [yes, no];
}
