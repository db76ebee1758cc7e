import type { Dataplane } from '../dataplane/dataplane.js';
import { hostPortName, vxlanName } from '../dataplane/names.js';
import { LEGACY_CHAIN } from '../dataplane/legacy-forward-chain.js';
import { type EngineClient, EngineError } from '../docker/engine-client.js';
import { errorMessage } from '../lib/errors.js';
import type { Logger } from '../lib/logger.js';
import { type DriftKind, noMetrics, type ReconcileObserver } from '../metrics/ports.js';
import type { ClusterStore, Entry } from '../store/cluster-store.js';
import { parseAddressKey } from '../store/keys.js';
import type { AddressRecord, CopyRecord, EndpointRecord, NetworkRecord, PoolRecord } from '../store/records.js';
import type { LocalState } from './local-state.js';
import type { Membership } from './membership.js';
import { networkMtu } from './network-options.js';
import type { PeerSync } from './peer-sync.js';

export interface ReconcileReport {
  readonly networksEnsured: number;
  /** Networks whose host port or VXLAN device had gone (deleted by hand, a reboot) and was made again. */
  readonly devicesRestored: string[];
  readonly devicesRemoved: string[];
  readonly endpointsReleased: string[];
  readonly endpointsRepublished: string[];
  readonly addressesReleased: string[];
  /** Copies whose engine network is gone, networks no host has, pools no network uses: leftovers of a crash. */
  readonly leftoversRemoved: string[];
}

/** An endpoint as this host's engine has it attached to one of our networks. */
interface AttachedEndpoint {
  readonly network: string;
  readonly ip: string;
  readonly mac: string;
}

/**
 * Makes this host's kernel, its engine and etcd agree, from whatever state they are in:
 * after a restart, a crash at any step, a device deleted by hand, an engine restart, a dead
 * host. Each step compares and acts, so running it twice changes nothing the second time.
 * Things younger than `graceMs` are left alone: a request may be half-way through making them.
 */
export class Reconciler {
  private running: Promise<ReconcileReport> | undefined;
  private again = false;
  /** Addresses of endpoints this host released, and when: see release(). */
  private readonly detached = new Map<string, number>();
  /** Until the plugin serves requests, no request of this process can be half-way through anything. */
  private serving = false;
  private stopped = false;
  /** Whether a pass has found and removed what an earlier build left (clearEarlierBuild). */
  private earlierBuildCleared = false;

  constructor(
    private readonly node: string,
    private readonly vtep: string,
    private readonly store: ClusterStore,
    private readonly dataplane: Dataplane,
    private readonly local: LocalState,
    private readonly engine: EngineClient,
    private readonly peers: PeerSync,
    private readonly membership: Membership,
    private readonly log: Logger,
    private readonly metrics: ReconcileObserver = noMetrics,
    private readonly graceMs = 10_000,
    /**
     * Gives this host's share of the pool back (IpamService.releasePool), that very pool: a
     * retry of a failed release must not touch a newer pool of the subnet.
     */
    private readonly releasePool: (pool: PoolRecord) => Promise<void> = async () => undefined,
    /** CreateEndpoint's write of the endpoint is under way, or failed for DeleteEndpoint to take (NetworkDriver). */
    private readonly endpointWritePending: (endpointId: string) => boolean = () => false,
  ) {}

  /** From now on, requests may be in flight while a reconcile runs. */
  markServing(): void {
    this.serving = true;
  }

  /**
   * No pass starts from now on (a schedule is ignored), and the one in progress, if any, is
   * waited for, `waitMs` at most: the plugin is stopping, and what a pass works with closes
   * after this (a pass stuck on a slow etcd must not hold the stop past the engine's patience).
   */
  async stop(waitMs = 3000): Promise<void> {
    this.stopped = true;
    this.again = false;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.running?.catch(() => undefined), new Promise((r) => (timer = setTimeout(r, waitMs)))]);
    clearTimeout(timer);
  }

  /** Runs now, or once more right after the run in progress. */
  schedule(reason: string): void {
    if (this.stopped) return;
    this.log.debug({ reason }, 'reconcile scheduled');
    if (this.running) {
      this.again = true;
      return;
    }
    void this.run().catch(() => undefined);
  }

  run(): Promise<ReconcileReport> {
    return this.start().all;
  }

  /**
   * Start-up waits for one whole pass, not for the passes that events during it asked for
   * (other nodes' first watch events arrive meanwhile): those follow while the plugin serves,
   * as any later change would.
   */
  async firstPass(): Promise<void> {
    await this.start().first;
  }

  private start(): { first: Promise<ReconcileReport>; all: Promise<ReconcileReport> } {
    if (this.running) return { first: this.running, all: this.running };
    let first: Promise<ReconcileReport> | undefined;
    this.running = (async () => {
      let report: ReconcileReport;
      do {
        this.again = false;
        // Only a first pass that starts before serving cleans up as at start-up: a pass asked
        // for during it runs on while the plugin already serves (a request may be making a
        // pool or copy that looks stray at that moment).
        const pass = this.once(first === undefined && !this.serving);
        first ??= pass;
        report = await pass;
      } while (this.again);
      return report;
    })().finally(() => (this.running = undefined));
    return { first: first!, all: this.running };
  }

  private async once(startup: boolean): Promise<ReconcileReport> {
    const report = { networksEnsured: 0, devicesRestored: [] as string[], devicesRemoved: [] as string[], endpointsReleased: [] as string[], endpointsRepublished: [] as string[], addressesReleased: [] as string[], leftoversRemoved: [] as string[] };
    try {
      if (!this.earlierBuildCleared) await this.clearEarlierBuild(report);
      const remade = await this.networks(report, startup);
      // Every endpoint is listed once per pass, for the three steps that need them all: each
      // of their writes compares the entry's revision, so one that changed since is left be.
      const { attached, listed } = await this.engineEndpoints(report);
      // After engineEndpoints: only endpoints whose containers still run are named.
      for (const net of remade) this.warnCutOff(net.vni, net.network);
      await this.devices(report, attached);
      await this.deadNodes(report, listed);
      await this.strayAddresses(report, listed);
      if (startup) {
        // Leftovers of a crash of this host (or of another that never came back). Only at
        // start-up: while serving, a slow engine may be half-way through making them, longer
        // than any grace period (races.test.ts saw 16 s between RequestPool and CreateNetwork
        // on a loaded machine).
        await this.strayNetworks(report);
        await this.strayPools(report);
      }
      this.peers.markAllDirty();
      await this.peers.settled();
      const changed = report.devicesRestored.length + report.devicesRemoved.length + report.endpointsReleased.length + report.endpointsRepublished.length + report.addressesReleased.length + report.leftoversRemoved.length;
      this.log[changed ? 'info' : 'debug']({ ...report }, 'reconciled');
      this.metrics.reconciled('ok', repairedByKind(report));
    } catch (err) {
      this.log.warn({ err: errorMessage(err) }, 'reconcile failed; will try again');
      // What it put right before failing stays put right: count it too.
      this.metrics.reconciled('error', repairedByKind(report));
    }
    return report;
  }

  /**
   * This host's copies, from etcd: their devices exist; copies of removed networks go. Returns
   * the networks whose VXLAN device had to be made again (with the endpoints' interfaces on it).
   */
  private async networks(report: { networksEnsured: number; devicesRestored: string[]; leftoversRemoved: string[] }, startup: boolean): Promise<Array<{ vni: number; network: string }>> {
    const remade: Array<{ vni: number; network: string }> = [];
    // Each read once for all networks: per network, the reads cost a process or an etcd round
    // trip each, every pass (bench/many-networks.ts).
    const copies = await this.store.listCopies(this.node);
    // Listed after the copies: a copy is recorded only after its network. Every network of
    // the cluster, not only this host's: propagation gives every host a copy of each, so
    // they are the same but for the ones being made or removed.
    const networks = new Map((await this.store.listNetworks()).networks.map((n) => [n.id, n]));
    // Looked at after the listing: a copy is recorded only once its devices exist, so a listed
    // copy without them now has lost them (rather than being made right now).
    const view = await this.dataplane.passView();
    for (const copy of copies) {
      const network = networks.get(copy.network);
      if (startup && network && (await this.engineLacks(copy))) {
        await this.dropCopy(copy, network, copies);
        report.leftoversRemoved.push(`copy ${copy.engineNetworkId} of network ${copy.network}`);
        continue;
      }
      if (!network) {
        const stale = this.local.network(copy.engineNetworkId);
        const drop = async () => {
          if (stale && !this.local.vniUsedByAnother(stale.record.vni, copy.engineNetworkId)) await this.dataplane.deleteNetwork(stale.record.vni);
          this.local.removeNetwork(copy.engineNetworkId);
          await this.store.deleteCopy(this.node, copy.engineNetworkId);
        };
        await (stale ? this.local.withDevices(stale.record.vni, drop) : drop());
        continue;
      }
      await this.local.withDevices(network.vni, async () => {
        // Looked at again under the lock: a DeleteNetwork may have finished meanwhile, or be
        // left for its retry (the engine has no such network any more; the driver finishes it).
        if (this.local.isBeingRemoved(copy.engineNetworkId)) return;
        if (!(await this.store.hasCopy(this.node, copy.engineNetworkId))) return;
        const known = this.local.network(copy.engineNetworkId);
        const mtu = known?.mtu ?? network.mtu ?? networkMtu(network, this.local.defaultMtu);
        const vxlanMade = await this.dataplane.ensureNetwork({ vni: network.vni, mtu, encrypted: network.encrypted === true, subnet: network.subnet }, view);
        this.local.addNetwork({ engineId: copy.engineNetworkId, record: network, mtu });
        report.networksEnsured++;
        const vni = network.vni;
        if (!view.links.has(hostPortName(vni)) || !view.links.has(vxlanName(vni))) report.devicesRestored.push(`${hostPortName(vni)}/${vxlanName(vni)}`);
        if (vxlanMade) remade.push({ vni, network: network.id });
      });
    }
    return remade;
  }

  /**
   * At start-up, a copy whose network the engine does not have (a definite "no such network",
   * not an engine that cannot be reached): the last process died before the engine heard
   * CreateNetwork succeed, or the engine removed the network while the plugin was down.
   * Either way the engine has nothing on it. Only at start-up: while serving, a network the
   * engine is removing is missing from it before its DeleteNetwork arrives, and that call
   * must find the copy to do its work.
   */
  private async engineLacks(copy: CopyRecord): Promise<boolean> {
    try {
      await this.engine.inspectNetwork(copy.engineNetworkId);
      return false;
    } catch (err) {
      return err instanceof EngineError && err.status === 404;
    }
  }

  /**
   * Removes this host's copy, and its devices unless another copy of the same network needs
   * them (the engine may have made a new one since). The cluster network itself stays: if no
   * host has it any more, strayNetworks removes it; if others do, propagation brings it back
   * here, since a copy that vanished this way cannot be told from one the user removed.
   */
  private async dropCopy(copy: CopyRecord, network: NetworkRecord, copies: readonly CopyRecord[]): Promise<void> {
    const sharedCopy = copies.some((c) => c.network === copy.network && c.engineNetworkId !== copy.engineNetworkId);
    await this.local.withDevices(network.vni, async () => {
      // Looked at under the lock: a CreateNetwork waiting for it may take the devices over.
      if (!sharedCopy && !this.local.vniUsedByAnother(network.vni, copy.engineNetworkId)) await this.dataplane.deleteNetwork(network.vni);
      this.local.removeNetwork(copy.engineNetworkId);
      await this.store.deleteCopy(this.node, copy.engineNetworkId);
    });
    this.log.info({ network: network.id, engineId: copy.engineNetworkId }, 'the engine has no such network: removed this host\'s copy');
  }

  /**
   * Cluster networks that no host has a copy of: a creator that died between writing the
   * network and recording its copy, or a DeleteNetwork cut off before its last step. Ours go
   * at once (this process has made nothing yet); another host's only once older than the
   * grace period (it may be making it now). The transaction makes sure nobody changed them.
   */
  private async strayNetworks(report: { leftoversRemoved: string[] }): Promise<void> {
    const copied = new Set((await this.store.listCopies()).map((c) => c.network));
    const { networks } = await this.store.listNetworks();
    for (const n of networks) {
      if (copied.has(n.id) || (n.createdBy !== this.node && this.young(n.createdAt))) continue;
      const entry = await this.store.getNetwork(n.id);
      if (!entry) continue;
      // Looked at again, and compared by the delete: a host may be recording a copy (and
      // starting a container on it) right now.
      const { copies, revision: copiesAt } = await this.store.listAllCopies();
      if (copies.some((c) => c.network === n.id)) continue;
      const { revision: endpointsAt } = await this.store.listEndpoints(n.id);
      if (await this.store.deleteNetwork(entry, { copiesAt, endpointsAt })) {
        report.leftoversRemoved.push(`network ${n.id}`);
        this.log.info({ network: n.id, vni: n.vni, subnet: n.subnet }, 'removed a network that no host has');
      }
    }
  }

  /**
   * Pools this host holds that neither a copy of a network here nor a network of its engine
   * uses: the engine never heard RequestPool answer, or its ReleasePool after a failed
   * CreateNetwork found no plugin. Without the engine's word, nothing is released. An engine
   * that got its pool from the last process and sends CreateNetwork now is refused by
   * CreateNetwork (the pool no longer lists this host), not handed a subnet twice.
   */
  private async strayPools(report: { leftoversRemoved: string[] }): Promise<void> {
    let engineSubnets: Set<string>;
    try {
      engineSubnets = new Set((await this.engine.listAllNetworks()).flatMap((n) => (n.IPAM?.Config ?? []).map((c) => c.Subnet ?? '')));
    } catch {
      return;
    }
    const mine = new Set((await this.store.listCopies(this.node)).map((c) => c.network));
    const { networks } = await this.store.listNetworks();
    const usedHere = new Set(networks.filter((n) => mine.has(n.id)).map((n) => n.subnet));
    const { pools } = await this.store.listPools();
    for (const pool of pools) {
      if (!pool.users.includes(this.node) || usedHere.has(pool.subnet) || engineSubnets.has(pool.subnet)) continue;
      await this.releasePool(pool);
      report.leftoversRemoved.push(`pool ${pool.subnet}`);
      this.log.info({ subnet: pool.subnet }, 'released a pool that nothing here uses');
    }
  }

  /**
   * Devices of ours that belong to nothing go: a network's, an endpoint interface in the host's
   * namespace that no endpoint of this host owns.
   */
  private async devices(report: { devicesRemoved: string[] }, attached: ReadonlyMap<string, unknown> | undefined): Promise<void> {
    const own = await this.dataplane.ownDevices();
    for (const vni of new Set([...own.hostPorts, ...own.vxlans])) {
      if (this.local.hasVni(vni)) continue;
      await this.local.withDevices(vni, async () => {
        if (this.local.hasVni(vni)) return; // a CreateNetwork made it ours meanwhile
        await this.dataplane.deleteNetwork(vni);
        report.devicesRemoved.push(`${hostPortName(vni)}/${vxlanName(vni)}`);
      });
    }
    const expected = new Set(this.local.endpoints().map((e) => this.dataplane.portName(e.id)));
    for (const name of own.endpointPorts) {
      if (expected.has(name)) continue; // made by Join, not moved into its container yet
      if (this.dataplane.ownsSpare(name)) continue; // made ahead of a Join, or given to an endpoint (spare-ports.ts)
      // An interface the engine still uses must survive even if etcd forgot its endpoint;
      // without the engine's word, leave it for the next run.
      const engineUsesIt = attached === undefined || [...attached.keys()].some((id) => this.dataplane.portName(id) === name);
      if (engineUsesIt) continue;
      // The listing may be stale: a DeleteEndpoint since may have deleted it (not drift).
      if (await this.dataplane.deleteLink(name)) report.devicesRemoved.push(name);
    }
  }

  /**
   * What an earlier build left (a bridge per network, a veth pair per endpoint, a FORWARD
   * chain): removed before anything is made, since a VXLAN device that is still a bridge's port
   * takes no macvlan. A running container's old interface goes with its veth: it is named, as
   * when a VXLAN device goes. Looked for until a pass got rid of all of it.
   */
  private async clearEarlierBuild(report: { devicesRemoved: string[] }): Promise<void> {
    const { legacy } = await this.dataplane.ownDevices();
    const veths = legacy.filter((name) => name.startsWith('tsv-'));
    for (const name of legacy) {
      await this.dataplane.deleteLink(name);
      report.devicesRemoved.push(name);
    }
    if (await this.dataplane.removeLegacyForwardChain()) report.devicesRemoved.push(`iptables chain ${LEGACY_CHAIN}`);
    if (veths.length > 0) {
      this.log.warn({ interfaces: veths }, 'removed the veth pairs of an earlier build: reconnect their containers (docker network disconnect, then connect)');
    }
    this.earlierBuildCleared = true;
  }

  /**
   * Endpoint interfaces are macvlans on the VXLAN device: when it went (deleted by hand, or made
   * again because its settings drifted), they went with it, out of their containers, and the
   * engine does not know. The operator must reconnect those containers; say which.
   */
  private warnCutOff(vni: number, network: string): void {
    const cut = this.local.endpoints().filter((e) => e.network === network).map((e) => e.id.slice(0, 12));
    if (cut.length === 0) return;
    this.log.warn(
      { vni, endpoints: cut },
      `${vxlanName(vni)} was missing or wrong and is made again; the interfaces of the endpoints on it went with it: reconnect their containers (docker network disconnect, then connect)`,
    );
  }

  /**
   * The engine knows which containers are attached to each network. Endpoints etcd lists for
   * this host that the engine no longer has (containers gone while we were down, an engine
   * restart) are released; endpoints the engine has that etcd lost (our lease expired while
   * we were cut off) are announced again. Returns what the engine has attached (undefined when
   * it could not be asked) and the listing of every endpoint in etcd.
   */
  private async engineEndpoints(report: { endpointsReleased: string[]; endpointsRepublished: string[] }): Promise<{ attached: Map<string, AttachedEndpoint> | undefined; listed: Entry<EndpointRecord>[] }> {
    const attached = await this.attachedEndpoints();
    // Listed after asking the engine: an endpoint it showed and etcd lacks was then lost
    // indeed, rather than made in between (republishing it would fail and name a conflict).
    // The engine shows an endpoint only once its Join answered, and Join waits for the
    // endpoint's record to be written (driver/pending-publishes.ts).
    const listed = await this.store.listEndpointEntries();
    if (!attached) return { attached, listed };
    const inEtcd = new Map(listed.filter((e) => e.value.node === this.node).map((e) => [e.value.id, e]));
    for (const [id, entry] of inEtcd) {
      if (attached.has(id) || this.young(entry.value.createdAt)) continue;
      if (await this.release(entry)) report.endpointsReleased.push(id);
    }
    // An endpoint this host still holds that neither the engine nor etcd has: its
    // DeleteEndpoint's delete reached etcd though its answer did not, so it stayed here, and
    // ReleaseAddress of its address would be refused for as long as this process runs.
    // Not one whose record is on its way (etcd can take a while), and etcd is asked again
    // right before: the listings above may be older than the record.
    for (const e of this.local.endpoints()) {
      if (attached.has(e.id) || inEtcd.has(e.id) || this.young(e.createdAt) || this.endpointWritePending(e.id)) continue;
      if ((await this.store.getEndpoint(e.network, e.id)) !== undefined) continue;
      await this.forgetHere(e.id);
      report.endpointsReleased.push(e.id);
    }
    for (const [id, a] of attached) {
      if (inEtcd.has(id)) continue;
      const net = this.local.networkByClusterId(a.network);
      if (!net) continue;
      const record: EndpointRecord = { id, network: a.network, node: this.node, vtep: this.vtep, mac: a.mac, ip: a.ip, subnet: net.record.subnet, createdAt: new Date().toISOString() };
      if (await this.store.republishEndpoint(record)) {
        this.local.addEndpoint(record);
        report.endpointsRepublished.push(id);
      } else {
        this.log.error({ endpoint: id, ip: a.ip }, `address ${a.ip} of a running container was given to another endpoint while this host was away; reconnect the container`);
      }
    }
    return { attached, listed };
  }

  /** The endpoints this host's engine has on our networks; undefined when it cannot be asked. */
  private async attachedEndpoints(): Promise<Map<string, AttachedEndpoint> | undefined> {
    const attached = new Map<string, AttachedEndpoint>();
    for (const net of this.local.networks()) {
      let containers;
      try {
        containers = (await this.engine.inspectNetwork(net.engineId)).Containers ?? {};
      } catch (err) {
        if (!(err instanceof EngineError && err.status === 404)) {
          this.log.debug({ err: errorMessage(err) }, 'engine not reachable; endpoints not compared');
          return undefined;
        }
        containers = {}; // the engine dropped the network: nothing can be attached to it
      }
      for (const c of Object.values(containers) as Array<{ EndpointID: string; MacAddress: string; IPv4Address: string }>) {
        attached.set(c.EndpointID, { network: net.record.id, ip: c.IPv4Address.split('/')[0]!, mac: c.MacAddress });
      }
    }
    return attached;
  }

  /** Endpoints of hosts gone longer than the node TTL are released, by whichever host sees it first. */
  private async deadNodes(report: { endpointsReleased: string[] }, listed: readonly Entry<EndpointRecord>[]): Promise<void> {
    const ttlMs = this.membership.ttlSeconds * 1000;
    for (const entry of listed) {
      const owner = entry.value.node;
      if (owner === this.node || this.membership.absentFor(owner) < ttlMs) continue;
      if (await this.store.releaseEndpoint(entry)) {
        report.endpointsReleased.push(entry.value.id);
        this.log.info({ endpoint: entry.value.id, node: owner, ip: entry.value.ip }, `released endpoint of dead node ${owner}`);
      }
    }
  }

  /**
   * Endpoint addresses this host claimed that no endpoint uses (a crash between the two steps).
   * Candidates come from the pass's listing; before anything is freed the endpoints are listed
   * again, and each release compares that listing, so an endpoint made since (on a claim older
   * than the grace period) keeps its address.
   */
  private async strayAddresses(report: { addressesReleased: string[] }, listed: readonly Entry<EndpointRecord>[]): Promise<void> {
    const usedBy = (endpoints: ReadonlyArray<{ value: EndpointRecord }>) => new Set(endpoints.map((e) => `${e.value.subnet} ${e.value.ip}`));
    const used = usedBy(listed);
    const candidates: Array<{ subnet: string; entry: Entry<AddressRecord> }> = [];
    const subnets = new Set(this.local.networks().map((n) => n.record.subnet));
    // One listing of every pool's addresses rather than one per network (a round trip each):
    // every host has every network (propagation), so it reads no more than those would.
    for (const entry of (await this.store.listAllAddresses()).entries) {
      const subnet = parseAddressKey(entry.key)?.subnet;
      const a = entry.value;
      if (subnet === undefined || !subnets.has(subnet)) continue;
      if (a.kind !== 'endpoint' || a.node !== this.node || used.has(`${subnet} ${a.ip}`) || this.young(a.claimedAt)) continue;
      if (Date.now() - (this.detached.get(`${subnet} ${a.ip}`) ?? 0) < this.graceMs) continue;
      candidates.push({ subnet, entry });
    }
    if (candidates.length === 0) return;
    const { endpoints, revision: listedAt } = await this.store.listEndpoints();
    const usedNow = usedBy(endpoints.map((value) => ({ value })));
    for (const { subnet, entry } of candidates) {
      if (usedNow.has(`${subnet} ${entry.value.ip}`)) continue;
      // Compared by the release: an endpoint published on this claim after the listing keeps it.
      const networks = [...new Set(this.local.networks().filter((n) => n.record.subnet === subnet).map((n) => n.record.id))];
      if (await this.store.releaseAddress(subnet, entry, { networks, listedAt })) report.addressesReleased.push(`${entry.value.ip} in ${subnet}`);
    }
  }

  /**
   * An endpoint of this host that the engine no longer has: its interface and record go, and its
   * address a grace period later (strayAddresses). The engine may be tearing the container
   * down right now (it detaches it, then sends DeleteEndpoint and ReleaseAddress): freeing the
   * address at once could hand it to a new container before this one's ReleaseAddress arrives.
   */
  private async release(entry: Entry<EndpointRecord>): Promise<boolean> {
    await this.forgetHere(entry.value.id);
    const now = Date.now();
    for (const [k, t] of this.detached) if (now - t >= this.graceMs) this.detached.delete(k);
    this.detached.set(`${entry.value.subnet} ${entry.value.ip}`, now);
    return this.store.removeEndpointEntry(entry);
  }

  /** The endpoint's interface and its entry in this host's state go (not its record or address). */
  private async forgetHere(endpointId: string): Promise<void> {
    await this.dataplane.deletePort(endpointId);
    this.dataplane.endpointGone(endpointId);
    this.local.removeEndpoint(endpointId);
  }

  private young(iso: string | undefined): boolean {
    return iso !== undefined && Date.now() - Date.parse(iso) < this.graceMs;
  }
}

function repairedByKind(r: ReconcileReport): Record<DriftKind, number> {
  return {
    device_restored: r.devicesRestored.length,
    device_removed: r.devicesRemoved.length,
    endpoint_released: r.endpointsReleased.length,
    endpoint_republished: r.endpointsRepublished.length,
    address_released: r.addressesReleased.length,
    leftover_removed: r.leftoversRemoved.length,
  };
}
