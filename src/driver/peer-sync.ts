import type { Dataplane } from '../dataplane/dataplane.js';
import { copyPeerState, type MutablePeerState, type PeerState, PeerTable, type RemoteEndpoint } from '../dataplane/peers.js';
import { crashPoint } from '../lib/crash-point.js';
import { errorMessage } from '../lib/errors.js';
import type { Logger } from '../lib/logger.js';
import { noMetrics, type PeerObserver } from '../metrics/ports.js';
import { PendingRetry, sleep } from '../lib/retry.js';
import type { ClusterStore } from '../store/cluster-store.js';
import type { EndpointRecord } from '../store/records.js';
import type { LocalState } from './local-state.js';

const FLUSH_GATHER_MS = 5;
/** A device the kernel listed no entries for. */
const NO_PEERS: PeerState = { unicast: new Map(), flood: new Set(), neighbours: new Map() };

/**
 * Keeps every local VXLAN device's FDB and neighbour entries equal to the remote endpoints
 * etcd lists for its network. A watch feeds the endpoint cache and each network's peer table;
 * changes mark networks dirty; one flush loop (the only writer of peer entries) applies them
 * in batches: only the entries the changes touched, or, for a network to verify, all of them
 * against what the kernel holds.
 */
export class PeerSync {
  private readonly endpoints = new Map<string, Map<string, EndpointRecord>>(); // network -> id -> record
  /** Per network, its live remote endpoints as peer entries (this host's own and dead nodes' left out). */
  private readonly tables = new Map<string, PeerTable>();
  private readonly dirty = new Set<string>();
  /** Networks whose kernel state must be read back rather than assumed (devices re-made, drift). */
  private readonly verify = new Set<string>();
  /**
   * When each network was last marked to verify, by a count of marks: a whole-namespace reading
   * taken before a network's mark (its device may have been made again since) is not its truth.
   */
  private readonly verifyMarkedAt = new Map<string, number>();
  private verifyMarks = 0;
  /** What this process last programmed per VNI: the base of incremental changes. */
  private readonly programmed = new Map<number, MutablePeerState>();
  /** Networks whose programming failed, programmed again (verified) a second later: one retry for all of them. */
  private readonly failed = new Set<string>();
  private readonly retry = new PendingRetry(1000, () => {
    for (const network of this.failed) this.markDirty(network, true);
    this.failed.clear();
  });
  private flushing: Promise<void> | undefined;
  private watch: { close(): Promise<void> } | undefined;
  private stopped = false;

  constructor(
    private readonly node: string,
    private readonly store: ClusterStore,
    private readonly dataplane: Dataplane,
    private readonly local: LocalState,
    /** Endpoints of nodes whose lease expired get no traffic, even before they are released. */
    private readonly isAlive: (node: string) => boolean,
    private readonly log: Logger,
    private readonly metrics: PeerObserver = noMetrics,
  ) {}

  /** Reads every endpoint (or takes a listing just made), then follows changes from that revision on. */
  async start(listing?: { endpoints: readonly EndpointRecord[]; revision: number }): Promise<void> {
    const { endpoints, revision } = listing ?? (await this.store.listEndpoints());
    this.endpoints.clear();
    for (const e of endpoints) this.remember(e);
    this.rebuildTables();
    for (const n of this.local.networks()) {
      this.dirty.add(n.record.id);
      this.markVerify(n.record.id);
    }
    this.watch = this.store.watchEndpoints(revision, {
      // This host's own endpoints never become peer entries here (peerOf): their events, half
      // of all under load, change no table and need no programming pass.
      onPut: (_key, value) => {
        const e = value as EndpointRecord;
        this.remember(e);
        if (this.tableOf(e.network).set(e.id, this.peerOf(e))) this.markDirty(e.network);
      },
      onDelete: (key) => {
        const [network, id] = key.split('/').slice(-2) as [string, string];
        this.forgetEndpoint(network, id);
        if (this.tables.get(network)?.set(id, undefined)) this.markDirty(network);
      },
      onResync: () => void this.resync(),
    });
    this.scheduleFlush();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.retry.close();
    await this.watch?.close();
    await this.flushing;
  }

  /**
   * Whether the VXLAN device of `vni` must hold the FDB entry `mac` -> `vtep`: a deletion the
   * kernel reports of one it need not hold is this process's own (peer entries go from the
   * tables before they go from the kernel), not drift. Every local network of the VNI is asked:
   * for a moment two can share its devices (LocalState.vniUsedByAnother).
   */
  wantsFdbEntry(vni: number, mac: string, vtep: string): boolean {
    return this.local.networks().some((n) => n.record.vni === vni && (this.tables.get(n.record.id)?.wants(mac, vtep) ?? false));
  }

  /**
   * Programs a network's peers again. `verify` reads the kernel first, for when the devices
   * were (re)made or may have drifted; otherwise the diff is against what we last programmed.
   */
  markDirty(network: string, verify = false): void {
    this.dirty.add(network);
    if (verify) this.markVerify(network);
    this.scheduleFlush();
  }

  /**
   * Every local network again, against what the kernel holds now (after drift or node
   * changes: the tables are made again, as which nodes are alive decides what is a peer).
   */
  markAllDirty(): void {
    this.rebuildTables();
    const ids = new Set<string>();
    const vnis = new Set<number>();
    for (const n of this.local.networks()) {
      this.dirty.add(n.record.id);
      this.markVerify(n.record.id);
      ids.add(n.record.id);
      vnis.add(n.record.vni);
    }
    // What is kept of networks no longer here goes. A network made here later is marked to
    // verify when its devices are made (by the driver, or by this call at the end of the
    // reconcile pass that made them), so it is not diffed against what was programmed on its
    // VNI before; a dropped entry at most turns a diff into a reading of the kernel.
    for (const vni of this.programmed.keys()) if (!vnis.has(vni)) this.programmed.delete(vni);
    for (const id of this.verifyMarkedAt.keys()) if (!ids.has(id)) this.verifyMarkedAt.delete(id);
    for (const id of this.verify) if (!ids.has(id)) this.verify.delete(id);
    this.scheduleFlush();
  }

  private markVerify(network: string): void {
    this.verify.add(network);
    this.verifyMarkedAt.set(network, ++this.verifyMarks);
  }

  /** The endpoint as a peer entry here: undefined for this host's own, and for a dead node's. */
  private peerOf(e: EndpointRecord): RemoteEndpoint | undefined {
    return e.node !== this.node && this.isAlive(e.node) ? e : undefined;
  }

  private tableOf(network: string): PeerTable {
    let table = this.tables.get(network);
    if (!table) this.tables.set(network, (table = new PeerTable()));
    return table;
  }

  private rebuildTables(): void {
    this.tables.clear();
    for (const [network, byId] of this.endpoints) {
      const table = this.tableOf(network);
      for (const e of byId.values()) table.set(e.id, this.peerOf(e));
    }
  }

  private remember(e: EndpointRecord): void {
    let byId = this.endpoints.get(e.network);
    if (!byId) this.endpoints.set(e.network, (byId = new Map()));
    byId.set(e.id, e);
  }

  /**
   * A network whose last endpoint went leaves no entry behind: over months of networks made and
   * removed, their ids would otherwise pile up here (its table goes at the next rebuild, or at
   * once when it is not on this host: see program).
   */
  private forgetEndpoint(network: string, id: string): void {
    const byId = this.endpoints.get(network);
    if (byId?.delete(id) && byId.size === 0) this.endpoints.delete(network);
  }

  /** The networks this host keeps endpoints, a peer table or a mark of (for the tests: what it has not let go). */
  heldNetworks(): string[] {
    return [...new Set([...this.endpoints.keys(), ...this.tables.keys(), ...this.verify, ...this.verifyMarkedAt.keys()])].sort();
  }

  /** The VNIs whose last programmed entries this host keeps (for the tests, as heldNetworks). */
  heldVnis(): number[] {
    return [...this.programmed.keys()].sort((a, b) => a - b);
  }

  private async resync(): Promise<void> {
    if (this.stopped) return;
    await this.watch?.close().catch(() => undefined);
    for (;;) {
      try {
        await this.start();
        return;
      } catch (err) {
        this.log.warn({ err: errorMessage(err) }, 'endpoint resync failed; retrying');
        await sleep(1000);
        if (this.stopped) return;
      }
    }
  }

  private scheduleFlush(): void {
    if (this.flushing || this.stopped) return;
    this.flushing = (async () => {
      // Let a burst of watch events land before programming: one batch for all of them.
      // Each batch costs two process spawns, which dominate the plugin's CPU when thousands of
      // endpoints come at once; 5 ms of gathering is far inside the 50 ms convergence budget.
      while (this.dirty.size > 0 && !this.stopped) {
        await sleep(FLUSH_GATHER_MS);
        const networks = [...this.dirty];
        this.dirty.clear();
        // Networks to verify compare with the kernel: several (a reconcile pass) read all of it
        // at once; if that fails (an interrupted dump too), each reads its own device, and so
        // does a network marked to verify after the reading (its device made again meanwhile).
        const many = networks.filter((n) => this.verify.has(n)).length > 1;
        const takenAfter = this.verifyMarks;
        const entries = many ? await this.dataplane.readAllPeers().catch(() => undefined) : undefined;
        const kernel = entries && { entries, takenAfter };
        await Promise.all(networks.map((n) => this.program(n, kernel)));
      }
    })().finally(() => {
      this.flushing = undefined;
      if (this.dirty.size > 0) this.scheduleFlush();
    });
  }

  /** Waits until every change seen so far is in the kernel. */
  async settled(): Promise<void> {
    while (this.flushing) await this.flushing;
  }

  /** `kernel`: every device's entries, read for this flush after mark `takenAfter` (readAllPeers); else read here when needed. */
  private async program(network: string, kernel?: { entries: ReadonlyMap<number, PeerState>; takenAfter: number }): Promise<void> {
    const vni = this.local.networkByClusterId(network)?.record.vni;
    if (vni === undefined) {
      // Not on this host (any more): nothing to program. Its table, once empty, goes too; if
      // the network comes here later, its devices are verified against a table made anew.
      this.verifyMarkedAt.delete(network);
      this.verify.delete(network);
      if (this.tables.get(network)?.isEmpty()) this.tables.delete(network);
      return;
    }
    // Under the VNI's lock, and looked up again there: a DeleteNetwork removing the devices at
    // this moment would otherwise pull them away under the reads below.
    await this.local.withDevices(vni, async () => {
      if (this.local.networkByClusterId(network)?.record.vni !== vni) return;
      const table = this.tableOf(network);
      const known = this.verify.delete(network) ? undefined : this.programmed.get(vni);
      try {
        let changed: number;
        if (known) {
          changed = await this.dataplane.applyPeerDelta(vni, table.takeDelta(), known);
        } else {
          // First time, or to verify: every entry, against what the kernel holds.
          const desired = table.takeState();
          const read = kernel && (this.verifyMarkedAt.get(network) ?? 0) <= kernel.takenAfter ? (kernel.entries.get(vni) ?? NO_PEERS) : undefined;
          changed = await this.dataplane.applyPeers(vni, desired, read);
          this.programmed.set(vni, copyPeerState(desired));
        }
        // Programmed: a retry armed for this network's earlier failure has nothing to do here.
        if (this.failed.delete(network) && this.failed.size === 0) this.retry.cancel();
        if (changed > 0) crashPoint('peers.programmed');
        this.metrics.peerEntriesProgrammed(changed);
        if (changed > 0) this.log.debug({ network, vni, changed, verified: known === undefined }, 'peers programmed');
      } catch (err) {
        this.programmed.delete(vni); // unknown now: read the kernel next time
        this.log.error({ err, network }, 'programming peers failed; retrying');
        this.failed.add(network);
        this.retry.arm();
      }
    });
  }
}
