import { noMetrics, type SparePortObserver } from '../metrics/ports.js';
import { sparePortName, vxlanName } from './names.js';
import type { Runner } from './runner.js';

export interface SparePortOptions {
  /** At most this many spares per network (0: never any). */
  readonly max: number;
  /** One spare for every this many Joins on the network in the last second. */
  readonly joinsPerSpare: number;
  /** A network's spares are deleted once it has had no Join for this long. */
  readonly idleMs: number;
}

export const SPARE_PORT_DEFAULTS: SparePortOptions = { max: 32, joinsPerSpare: 8, idleMs: 2000 };

/** After a refill that made nothing (the VXLAN device gone?), the next waits this long. */
const FAILED_REFILL_PAUSE_MS = 1000;

/** One network's spares. Replaced, never reset, when they go: a refill of an old one finds out. */
interface Pool {
  readonly mtu: number;
  /**
   * Made, down, in the host's namespace, handed to nobody, oldest first; each with when it was
   * made (performance.now()): a listing of links begun later must show it.
   */
  readonly ready: Map<string, number>;
  /** Asked of the kernel, not answered yet (a name reported deleted meanwhile leaves the set). */
  readonly making: Set<string>;
  /** When the last second's Joins came. */
  readonly joins: number[];
  refilling: boolean;
  /** No refill before this time (the last one made nothing). */
  pausedUntil: number;
  idleTimer?: NodeJS.Timeout;
}

/**
 * Endpoint interfaces made before their containers ask, so that a Join under load hands one
 * out instead of waiting for `ip` (a round trip to another process, which queues behind every
 * other change when the machine is busy: the slowest part of Join at hundreds of containers a
 * second). A spare is a macvlan on the network's VXLAN device with the network's MTU and no MAC
 * of its own choosing: the engine sets the endpoint's MAC (which CreateEndpoint gave it) when it
 * moves the interface into the container, as it does for every driver.
 *
 * Spares exist only while containers start quickly on a network: one for every `joinsPerSpare`
 * Joins in the last second, at most `max`, all deleted after `idleMs` without a Join. A host
 * that starts a container now and then never has any.
 *
 * A spare handed to an endpoint keeps that name: the engine moves the interface back into the
 * host's namespace under it after Leave (libnetwork calls the driver's Leave first, then takes
 * the interface out of the container), and DeleteEndpoint deletes it by it. So the name stays
 * the endpoint's until `letGo`. What was handed to whom is known in memory only: after a
 * restart the reconcile removes the spare-named interfaces it finds in the host's namespace:
 * spares of the earlier process, and interfaces of its endpoints that the engine brought back
 * after Leave (DeleteEndpoint looks for the endpoint's own name then). One that process handed
 * out a moment before it died, which the engine has not moved yet, would go too; a restart
 * takes far longer than the engine's move.
 */
export class SparePorts {
  private readonly pools = new Map<number, Pool>();
  /** Spares handed to endpoints: endpoint ID -> interface name, and back. */
  private readonly handedOut = new Map<string, string>();
  private readonly handedName = new Set<string>();
  private closed = false;

  constructor(
    private readonly run: Runner,
    private readonly options: SparePortOptions,
    private readonly metrics: SparePortObserver = noMetrics,
  ) {}

  /** A spare for the endpoint, or undefined (make its interface the usual way). Counts the Join either way. */
  take(endpointId: string, vni: number, mtu: number): string | undefined {
    if (this.options.max === 0 || this.closed) return undefined;
    let pool = this.pools.get(vni);
    if (pool && pool.mtu !== mtu) this.drop(vni, true);
    pool = this.pools.get(vni);
    if (!pool) this.pools.set(vni, (pool = { mtu, ready: new Map(), making: new Set(), joins: [], refilling: false, pausedUntil: 0 }));
    pool.joins.push(performance.now());
    const name = pool.ready.keys().next().value;
    if (name !== undefined) {
      pool.ready.delete(name);
      this.handedOut.set(endpointId, name);
      this.handedName.add(name);
      this.metrics.sparePortHandedOut();
    }
    this.refill(vni, pool);
    // One timer per pool, pushed back by each Join (not a new timer per Join).
    if (pool.idleTimer) pool.idleTimer.refresh();
    else pool.idleTimer = setTimeout(() => this.drop(vni, true), this.options.idleMs).unref();
    return name;
  }

  /** The spare handed to the endpoint, if one was. */
  handedTo(endpointId: string): string | undefined {
    return this.handedOut.get(endpointId);
  }

  /** The endpoint's spare is no longer its interface here (deleted, or gone elsewhere): nobody's name. */
  letGo(endpointId: string): void {
    const name = this.handedOut.get(endpointId);
    if (name === undefined) return;
    this.handedOut.delete(endpointId);
    this.handedName.delete(name);
  }

  /**
   * A spare this process made and has not let go of: ready, being made, or handed to an endpoint
   * that still exists. Any other spare-named interface is a leftover; none can become one of
   * these later, since only names made here are handed out.
   */
  owns(name: string): boolean {
    if (this.handedName.has(name)) return true;
    for (const pool of this.pools.values()) if (pool.making.has(name) || pool.ready.has(name)) return true;
    return false;
  }

  /** The interface was deleted (seen by the kernel monitor): never hand it out. */
  gone(name: string): void {
    for (const pool of this.pools.values()) {
      pool.ready.delete(name);
      pool.making.delete(name);
    }
  }

  /**
   * A listing of the host's links, begun at `listedAt` (performance.now()), holds `present`:
   * a ready spare made before it and missing from it was deleted (the monitor can miss that
   * while it restarts, or when netlink drops events under load).
   */
  checkAgainst(present: ReadonlySet<string>, listedAt: number): void {
    for (const pool of this.pools.values()) {
      for (const [name, madeAt] of pool.ready) if (!present.has(name) && madeAt < listedAt) this.gone(name);
    }
  }

  /**
   * The network's VXLAN device went or was made again: its ready spares went with the old one.
   * Ones being made now are deleted when their refill answers (they may be on the new device).
   */
  forget(vni: number): void {
    this.drop(vni, false);
  }

  /** Ends every pool and deletes the ready spares (the plugin stops); no Join gets one after. */
  close(): Promise<void> {
    this.closed = true;
    const names = [...this.pools.values()].flatMap((p) => [...p.ready.keys()]);
    for (const vni of [...this.pools.keys()]) this.drop(vni, false);
    return this.deleteLinks(names);
  }

  private refill(vni: number, pool: Pool): void {
    if (pool.refilling || this.pools.get(vni) !== pool || performance.now() < pool.pausedUntil) return;
    const now = performance.now();
    while (pool.joins.length > 0 && pool.joins[0]! <= now - 1000) pool.joins.shift();
    const target = Math.min(this.options.max, Math.floor(pool.joins.length / this.options.joinsPerSpare));
    const names = Array.from({ length: target - pool.ready.size }, sparePortName);
    if (names.length <= 0) return;
    for (const n of names) pool.making.add(n);
    pool.refilling = true;
    const lines = names.map((n) => `link add ${n} link ${vxlanName(vni)} mtu ${pool.mtu} type macvlan mode bridge`);
    void this.run
      .batchReport('ip', lines)
      .then(
        (failed) => {
          const made = names.filter((_, i) => !failed.has(i + 1));
          const current = this.pools.get(vni) === pool;
          // Made for a pool that is gone, or deleted already (the monitor said so): not spares.
          const keep = made.filter((n) => current && pool.making.has(n));
          const at = performance.now();
          for (const n of keep) pool.ready.set(n, at);
          void this.deleteLinks(made.filter((n) => !keep.includes(n)));
          if (made.length === 0) pool.pausedUntil = performance.now() + FAILED_REFILL_PAUSE_MS;
        },
        // The session ended under it: whatever it made is a leftover for the reconcile.
        () => {
          pool.pausedUntil = performance.now() + FAILED_REFILL_PAUSE_MS;
        },
      )
      .finally(() => {
        for (const n of names) pool.making.delete(n);
        pool.refilling = false;
        this.refill(vni, pool);
      });
  }

  private drop(vni: number, deleteReady: boolean): void {
    const pool = this.pools.get(vni);
    if (!pool) return;
    this.pools.delete(vni);
    clearTimeout(pool.idleTimer);
    const names = [...pool.ready.keys()];
    pool.ready.clear();
    if (deleteReady) void this.deleteLinks(names);
  }

  private async deleteLinks(names: readonly string[]): Promise<void> {
    // Together, in one request, and not in the session that makes interfaces, which 32 deleted
    // one by one held up for about half a second (16 ms each: link-reaper.ts). Any left the
    // reconcile removes.
    await this.run.deleteLinks(names);
  }
}
