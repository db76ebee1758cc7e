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

/** One network's spares. Replaced, never reset, when they go: a refill of an old one finds out. */
interface Pool {
  readonly mtu: number;
  /** Made, down, in the host's namespace, handed to nobody. */
  readonly ready: string[];
  /** Asked of the kernel, not answered yet. */
  readonly making: Set<string>;
  /** When the last second's Joins came. */
  readonly joins: number[];
  refilling: boolean;
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
 * that starts a container now and then never has any. What a spare was handed to is known in
 * memory only: after a restart the reconcile removes the spare-named interfaces it finds in
 * the host's namespace (by then the engine has long moved the ones it was given).
 */
export class SparePorts {
  private readonly pools = new Map<number, Pool>();
  /** Spares handed to endpoints: endpoint ID -> interface name. */
  private readonly handedOut = new Map<string, string>();

  constructor(
    private readonly run: Runner,
    private readonly options: SparePortOptions,
    private readonly metrics: SparePortObserver = noMetrics,
  ) {}

  /** A spare for the endpoint, or undefined (make its interface the usual way). Counts the Join either way. */
  take(endpointId: string, vni: number, mtu: number): string | undefined {
    if (this.options.max === 0) return undefined;
    let pool = this.pools.get(vni);
    if (pool && pool.mtu !== mtu) this.drop(vni, true);
    pool = this.pools.get(vni);
    if (!pool) this.pools.set(vni, (pool = { mtu, ready: [], making: new Set(), joins: [], refilling: false }));
    pool.joins.push(Date.now());
    const name = pool.ready.pop();
    if (name) {
      this.handedOut.set(endpointId, name);
      this.metrics.sparePortHandedOut();
    }
    this.refill(vni, pool);
    clearTimeout(pool.idleTimer);
    pool.idleTimer = setTimeout(() => this.drop(vni, true), this.options.idleMs).unref();
    return name;
  }

  /** The spare handed to the endpoint, if one was. */
  handedTo(endpointId: string): string | undefined {
    return this.handedOut.get(endpointId);
  }

  /** The endpoint's interface is gone (deleted, or left with its container). */
  release(endpointId: string): void {
    this.handedOut.delete(endpointId);
  }

  /** A spare, ready or being made: not a leftover, whatever a listing of links says. */
  holds(name: string): boolean {
    for (const pool of this.pools.values()) if (pool.making.has(name) || pool.ready.includes(name)) return true;
    return false;
  }

  /** The interface was deleted (seen by the kernel monitor): never hand it out. */
  gone(name: string): void {
    for (const pool of this.pools.values()) {
      const at = pool.ready.indexOf(name);
      if (at >= 0) pool.ready.splice(at, 1);
    }
  }

  /**
   * The network's VXLAN device went or was made again: its spares went with the old one.
   * (Ones being made on it now, if the new device already exists, are left for the reconcile.)
   */
  forget(vni: number): void {
    this.drop(vni, false);
  }

  /** Ends every pool and deletes the ready spares (the plugin stops). */
  close(): Promise<void> {
    const names = [...this.pools.values()].flatMap((p) => p.ready);
    for (const vni of [...this.pools.keys()]) this.drop(vni, false);
    return this.deleteLinks(names);
  }

  private refill(vni: number, pool: Pool): void {
    if (pool.refilling || this.pools.get(vni) !== pool) return;
    const now = Date.now();
    while (pool.joins.length > 0 && pool.joins[0]! <= now - 1000) pool.joins.shift();
    const target = Math.min(this.options.max, Math.floor(pool.joins.length / this.options.joinsPerSpare));
    const names = Array.from({ length: target - pool.ready.length }, sparePortName);
    if (names.length <= 0) return;
    for (const n of names) pool.making.add(n);
    pool.refilling = true;
    const lines = names.map((n) => `link add ${n} link ${vxlanName(vni)} mtu ${pool.mtu} type macvlan mode bridge`);
    void this.run
      .batchReport('ip', lines)
      .then(
        (failed) => {
          if (this.pools.get(vni) === pool) names.forEach((n, i) => !failed.has(i + 1) && pool.ready.push(n));
        },
        // The session ended under it: whatever it made is a leftover for the reconcile.
        () => undefined,
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
    const names = pool.ready.splice(0);
    if (deleteReady) void this.deleteLinks(names);
  }

  private async deleteLinks(names: readonly string[]): Promise<void> {
    if (names.length === 0) return;
    // One that is gone already is fine; any left (the session failed) the reconcile removes.
    await this.run.batchReport('ip', names.map((n) => `link del ${n}`)).catch(() => undefined);
  }
}
