import type { Lease } from 'etcd3';
import { errorMessage } from '../lib/errors.js';
import type { Logger } from '../lib/logger.js';
import { sleep, untilDone } from '../lib/retry.js';
import type { ClusterStore } from '../store/cluster-store.js';
import type { NodeRecord } from '../store/records.js';

export interface MembershipEvents {
  /** The set of live nodes changed: peers of dead nodes must go, of returning ones come back. */
  onChange(): void;
  /** Our lease was lost and we registered again: re-announce what this host has. */
  onReregistered(): void;
}

/**
 * This node's presence in the cluster, and everyone else's. Our record lives under a lease
 * that etcd3 keeps alive; a host that dies or is cut off longer than the TTL disappears, and
 * every other host notices through the watch. `absentSince` tells how long a node we know
 * endpoints of has been gone, so its endpoints are released only after a full TTL.
 */
export class Membership {
  private readonly alive = new Map<string, NodeRecord>();
  private readonly missingSince = new Map<string, number>();
  private readonly startedAt = Date.now();
  private lease: Lease | undefined;
  private registering: Promise<void> | undefined;
  private watch: { close(): Promise<void> } | undefined;
  private stopped = false;

  constructor(
    private readonly self: NodeRecord,
    readonly ttlSeconds: number,
    private readonly store: ClusterStore,
    private readonly events: MembershipEvents,
    private readonly log: Logger,
  ) {}

  async start(): Promise<void> {
    await this.register();
    await untilDone(() => this.follow(), (err) => this.log.warn({ err: errorMessage(err) }, 'could not read the node list; retrying'));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.watch?.close();
    // The lease is left to expire rather than revoked: a restart (upgrade, crash) reclaims the
    // name long before the TTL, so other hosts never drop this host's containers for it.
    this.lease?.release();
  }

  isAlive(node: string): boolean {
    return node === this.self.name || this.alive.has(node);
  }

  nodes(): NodeRecord[] {
    return [...this.alive.values()];
  }

  /** The live nodes' names, without copying them (each RequestAddress looks: StripeTracker). */
  liveNames(): IterableIterator<string> {
    return this.alive.keys();
  }

  /**
   * Milliseconds since `node` was last seen alive by this process (since our start if we
   * never saw it), or 0 when it is alive.
   */
  absentFor(node: string): number {
    if (this.isAlive(node)) return 0;
    return Date.now() - (this.missingSince.get(node) ?? this.startedAt);
  }

  private async register(): Promise<void> {
    for (let delay = 500; !this.stopped; delay = Math.min(delay * 2, 5000)) {
      try {
        this.lease = await this.store.registerNode(this.self, this.ttlSeconds, () => void this.reregister());
        return;
      } catch (err) {
        this.log.warn({ err: errorMessage(err) }, 'could not register this node; retrying');
        await sleep(delay);
      }
    }
  }

  /** Both the lease's `lost` event and the watch may report the loss: register once. */
  private reregister(): Promise<void> {
    if (this.stopped) return Promise.resolve();
    this.registering ??= (async () => {
      this.lease?.release();
      await this.register();
      if (!this.stopped) {
        this.log.info({ node: this.self.name }, 'registered again after losing the lease');
        this.events.onReregistered();
      }
    })().finally(() => (this.registering = undefined));
    return this.registering;
  }

  private async follow(): Promise<void> {
    const { nodes, revision } = await this.store.listNodesAt();
    // A node that was alive and is no longer listed (a resync after the watch lost its place)
    // is missing from now on, as if its delete had been seen: its TTL runs from here, not from
    // this process's start.
    const listed = new Set(nodes.map((n) => n.name));
    const now = Date.now();
    for (const name of this.alive.keys()) if (!listed.has(name)) this.missingSince.set(name, now);
    this.alive.clear();
    for (const n of nodes) this.markAlive(n);
    this.watch = this.store.watchNodes(revision, {
      onPut: (_key, value) => {
        this.markAlive(value as NodeRecord);
        this.events.onChange();
      },
      onDelete: (key) => {
        const name = key.slice(key.lastIndexOf('/') + 1);
        if (name === this.self.name) {
          // Our own record vanished (lease expired while we were cut off): put it back.
          void this.reregister();
          return;
        }
        this.alive.delete(name);
        this.missingSince.set(name, Date.now());
        this.log.warn({ node: name }, `node ${name} left the cluster (lease expired or stopped)`);
        this.events.onChange();
      },
      onResync: () => {
        void (async () => {
          await this.watch?.close().catch(() => undefined);
          for (;;) {
            try {
              await this.follow();
              // Stopped while it read: the watch it opened is nobody else's to close.
              if (this.stopped) await this.watch?.close().catch(() => undefined);
              else this.events.onChange();
              return;
            } catch {
              if (this.stopped) return;
              await sleep(1000);
            }
          }
        })();
      },
    });
    this.events.onChange();
  }

  private markAlive(n: NodeRecord): void {
    this.alive.set(n.name, n);
    this.missingSince.delete(n.name);
  }
}
