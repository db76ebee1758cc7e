import type { Lease } from 'etcd3';
import { errorMessage, unavailable } from '../lib/errors.js';
import type { Logger } from '../lib/logger.js';
import type { Compare, Entry, EtcdKv, WatchHandlers } from './etcd-kv.js';
import { keys, lastSegment } from './keys.js';
import type { AddressRecord, CopyRecord, EndpointRecord, KeySetRecord, NameRecord, NetworkRecord, NodeRecord, PoolRecord } from './records.js';

export type { Entry };

/**
 * How an endpoint's address is held when the endpoint is published: by a claim already in etcd
 * (the record written then, and its revision), or by a claim to write together with the
 * endpoint (its record, no revision yet).
 */
export interface AddressClaim {
  readonly record: AddressRecord;
  /** The claim's revision in etcd; absent while etcd does not hold it. */
  readonly revision?: number;
}

/** A claim etcd does not hold yet: the endpoint's transaction writes it. */
export const isUnwritten = (claim: AddressClaim): boolean => claim.revision === undefined;

/**
 * The cluster's shared state, as domain operations. Each operation that must not race with
 * another host is a single etcd transaction guarded by revisions; callers decide policy
 * (which value to try, how often to retry), this class only makes a choice stick or fail.
 */
export class ClusterStore {
  constructor(private readonly kv: EtcdKv, private readonly log: Logger) {}

  // ---- pools -------------------------------------------------------------------------

  /** All pools, plus the guard revision a createPool must present to prove nothing changed. */
  async listPools(): Promise<{ pools: PoolRecord[]; guardRevision: number }> {
    const guard = await this.kv.get<number>(keys.poolsGuard);
    const { entries } = await this.kv.list<PoolRecord>(keys.poolsPrefix);
    return { pools: entries.map((e) => e.value), guardRevision: guard?.modRevision ?? 0 };
  }

  /** Creates the pool only if no pool was added or removed since `guardRevision`. */
  createPool(pool: PoolRecord, guardRevision: number): Promise<boolean> {
    return this.kv.txn({
      compare: [{ key: keys.poolsGuard, modRevision: guardRevision }],
      put: [[keys.pool(pool.subnet), pool], [keys.poolsGuard, Date.now()]],
    });
  }

  getPool(subnet: string): Promise<Entry<PoolRecord> | undefined> {
    return this.kv.get<PoolRecord>(keys.pool(subnet));
  }

  updatePool(pool: PoolRecord, modRevision: number): Promise<boolean> {
    return this.kv.txn({ compare: [{ key: keys.pool(pool.subnet), modRevision }], put: [[keys.pool(pool.subnet), pool]] });
  }

  /** Removes the pool and every address claimed in it, if the pool is unchanged. */
  async deletePool(subnet: string, modRevision: number): Promise<boolean> {
    const guard = await this.kv.get<number>(keys.poolsGuard);
    return this.kv.txn({
      compare: [{ key: keys.pool(subnet), modRevision }, { key: keys.poolsGuard, modRevision: guard?.modRevision ?? 0 }],
      delete: [keys.pool(subnet)],
      deletePrefix: [keys.addressesPrefix(subnet)],
      put: [[keys.poolsGuard, Date.now()]],
    });
  }

  // ---- addresses ---------------------------------------------------------------------

  async listAddresses(subnet: string): Promise<AddressRecord[]> {
    return (await this.kv.list<AddressRecord>(keys.addressesPrefix(subnet))).entries.map((e) => e.value);
  }

  getAddress(subnet: string, ip: string): Promise<Entry<AddressRecord> | undefined> {
    return this.kv.get<AddressRecord>(keys.address(subnet, ip));
  }

  /**
   * Claims the address if nobody holds it and its pool still exists. Returns the claim's
   * revision (what putEndpoint compares against), or undefined when the claim lost.
   */
  async claimAddress(subnet: string, record: AddressRecord): Promise<number | undefined> {
    return this.kv.txnRevision({
      compare: [
        { key: keys.address(subnet, record.ip), modRevision: 0 },
        { key: keys.pool(subnet), exists: true },
      ],
      put: [[keys.address(subnet, record.ip), record]],
    });
  }

  /** Every pool, and the revision to watch them from. */
  async listPoolEntries(): Promise<{ entries: Entry<PoolRecord>[]; revision: number }> {
    return this.kv.list<PoolRecord>(keys.poolsPrefix);
  }

  watchPools(fromRevision: number, handlers: WatchHandlers) {
    return this.kv.watch(keys.poolsPrefix, fromRevision, handlers);
  }

  /** Every claimed address of every pool, and the revision to watch them from. */
  async listAllAddresses(): Promise<{ entries: Entry<AddressRecord>[]; revision: number }> {
    return this.kv.list<AddressRecord>(keys.allAddressesPrefix);
  }

  watchAddresses(fromRevision: number, handlers: WatchHandlers) {
    return this.kv.watch(keys.allAddressesPrefix, fromRevision, handlers);
  }

  /** Re-labels a claimed address (an aux address reserved before its network existed). */
  relabelAddress(subnet: string, entry: Entry<AddressRecord>, record: AddressRecord): Promise<boolean> {
    return this.kv.txn({
      compare: [{ key: keys.address(subnet, record.ip), modRevision: entry.modRevision }],
      put: [[keys.address(subnet, record.ip), record]],
    });
  }

  /**
   * Frees the address if unchanged since `entry`. Given a listing of endpoints that found none
   * on it (the networks on its subnet, and the listing's revision), only if none of those
   * networks got an endpoint since: publishing an endpoint on an existing claim does not
   * change the address's record, so its revision alone cannot tell.
   */
  releaseAddress(subnet: string, entry: Entry<AddressRecord>, unused?: { readonly networks: readonly string[]; readonly listedAt: number }): Promise<boolean> {
    return this.releaseAddressAt(subnet, entry.value.ip, entry.modRevision, unused);
  }

  /** Frees the address if its mod revision is still `modRevision` (and, given `unused`, as releaseAddress). */
  releaseAddressAt(subnet: string, ip: string, modRevision: number, unused?: { readonly networks: readonly string[]; readonly listedAt: number }): Promise<boolean> {
    return this.kv.txn({
      compare: [
        { key: keys.address(subnet, ip), modRevision },
        ...(unused?.networks ?? []).map((network) => ({ prefix: keys.networkEndpointsPrefix(network), unchangedSince: unused!.listedAt })),
      ],
      delete: [keys.address(subnet, ip)],
    });
  }

  // ---- networks ----------------------------------------------------------------------

  /**
   * Creates the network, takes its VNI and binds its pool to it in one step; false if the
   * network or the VNI is taken, or the pool changed since it was read.
   */
  createNetwork(network: NetworkRecord, pool: Entry<PoolRecord>): Promise<boolean> {
    return this.kv.txn({
      compare: [
        { key: keys.network(network.id), modRevision: 0 },
        { key: keys.vni(network.vni), modRevision: 0 },
        { key: keys.pool(pool.value.subnet), modRevision: pool.modRevision },
      ],
      put: [[keys.network(network.id), network], [keys.vni(network.vni), network.id], [keys.pool(pool.value.subnet), { ...pool.value, network: network.id }]],
    });
  }

  getNetwork(id: string): Promise<Entry<NetworkRecord> | undefined> {
    return this.kv.get<NetworkRecord>(keys.network(id));
  }

  async listNetworks(): Promise<{ networks: NetworkRecord[]; revision: number }> {
    const { entries, revision } = await this.kv.list<NetworkRecord>(keys.networksPrefix);
    return { networks: entries.map((e) => e.value), revision };
  }

  async takenVnis(): Promise<Set<number>> {
    const { entries } = await this.kv.list<string>(keys.vnisPrefix);
    return new Set(entries.map((e) => Number(lastSegment(e.key))));
  }

  /** Read-modify-write with compare-and-swap, retried while other hosts race us. */
  async updateNetwork(id: string, change: (n: NetworkRecord) => NetworkRecord): Promise<NetworkRecord | undefined> {
    for (let attempt = 0; attempt < 20; attempt++) {
      const current = await this.getNetwork(id);
      if (!current) return undefined;
      const next = change(current.value);
      if (await this.kv.txn({ compare: [{ key: keys.network(id), modRevision: current.modRevision }], put: [[keys.network(id), next]] })) {
        return next;
      }
    }
    throw unavailable(`etcd: network ${id} kept changing under concurrent updates; try again`);
  }

  /**
   * Deletes the network (if unchanged since `entry`) with its VNI, endpoints and names, and
   * unbinds its pool if the pool still exists (a CreateNetwork rolled back, or hosts still
   * holding it): otherwise the pool would name a network that is gone. Given the revisions of
   * listings the caller judged by (of the network's endpoints, of every host's copies), only if
   * nothing was written there since: a container starting on another host meanwhile keeps the
   * network (its endpoint's write checks only that the network exists, and the delete would
   * take that endpoint with it), as does a host making a copy. False: the network changed or
   * went meanwhile, or something was written where a listing was taken.
   */
  async deleteNetwork(entry: Entry<NetworkRecord>, listed: { readonly endpointsAt?: number; readonly copiesAt?: number } = {}): Promise<boolean> {
    const n = entry.value;
    const endpointsPrefix = keys.networkEndpointsPrefix(n.id);
    const unchanged = [
      ...(listed.endpointsAt !== undefined ? [{ prefix: endpointsPrefix, unchangedSince: listed.endpointsAt }] : []),
      ...(listed.copiesAt !== undefined ? [{ prefix: keys.allCopiesPrefix, unchangedSince: listed.copiesAt }] : []),
    ];
    for (let attempt = 0; attempt < 20; attempt++) {
      const pool = await this.getPool(n.subnet);
      const bound = pool?.value.network === n.id ? pool : undefined;
      const { network: _binding, ...unbound } = bound?.value ?? {};
      const done = await this.kv.txn({
        compare: [
          { key: keys.network(n.id), modRevision: entry.modRevision },
          ...(bound ? [{ key: keys.pool(n.subnet), modRevision: bound.modRevision }] : []),
          ...unchanged,
        ],
        delete: [keys.network(n.id), keys.vni(n.vni)],
        deletePrefix: [endpointsPrefix, keys.networkNamesPrefix(n.id)],
        ...(bound ? { put: [[keys.pool(n.subnet), unbound] as const] } : {}),
      });
      if (done) return true;
      // Only the pool changed (a host joined or left it): look again; the network or a
      // listing: the caller's call.
      if ((await this.getNetwork(n.id))?.modRevision !== entry.modRevision) return false;
      for (const u of unchanged) if ((await this.kv.list(u.prefix)).entries.some((e) => e.modRevision > u.unchangedSince)) return false;
    }
    throw unavailable(`etcd: the pool of network ${n.id} kept changing; try again`);
  }

  // ---- engine copies of networks -----------------------------------------------------

  async putCopy(copy: CopyRecord): Promise<void> {
    await this.kv.idempotent((c) => c.put(keys.copy(copy.node, copy.engineNetworkId)).value(JSON.stringify(copy)).exec());
  }

  async deleteCopy(node: string, engineNetworkId: string): Promise<void> {
    await this.kv.idempotent((c) => c.delete().key(keys.copy(node, engineNetworkId)).exec());
  }

  /** Whether this host's copy is still recorded: one key, not the host's whole listing. */
  async hasCopy(node: string, engineNetworkId: string): Promise<boolean> {
    return (await this.kv.get<CopyRecord>(keys.copy(node, engineNetworkId))) !== undefined;
  }

  async listCopies(node?: string): Promise<CopyRecord[]> {
    const prefix = node === undefined ? keys.allCopiesPrefix : keys.copiesPrefix(node);
    return (await this.kv.list<CopyRecord>(prefix)).entries.map((e) => e.value);
  }

  /** Every host's copies, with the revision of the listing (for deleteNetwork's compare). */
  async listAllCopies(): Promise<{ copies: CopyRecord[]; revision: number }> {
    const { entries, revision } = await this.kv.list<CopyRecord>(keys.allCopiesPrefix);
    return { copies: entries.map((e) => e.value), revision };
  }

  // ---- endpoints ---------------------------------------------------------------------

  /**
   * Publishes the endpoint if its network still exists and its address's claim stands: given a
   * claim's revision (claimAddress), if that claim was not freed (and maybe taken by another
   * container) since; given a claim record not written yet, if nobody holds the address and its
   * pool exists. Either way the claim is written in the same transaction: written again, its
   * revision moves, so a release that read the claim before this publication compares a
   * revision that is gone and frees nothing (a late ReleaseAddress of the address's previous
   * container on this host, see IpamService.releaseAddress).
   */
  async putEndpoint(endpoint: EndpointRecord, claim?: AddressClaim): Promise<boolean> {
    return (await this.putEndpointRevision(endpoint, claim)) !== undefined;
  }

  /**
   * Like putEndpoint, and tells the revision the endpoint was written at: with a claim, also the
   * mod revision its address has from then on (the same transaction writes it).
   */
  async putEndpointRevision(endpoint: EndpointRecord, claim?: AddressClaim): Promise<number | undefined> {
    const address = keys.address(endpoint.subnet, endpoint.ip);
    const compare: [Compare, ...Compare[]] = [{ key: keys.network(endpoint.network), exists: true }];
    const put: Array<readonly [string, unknown]> = [[keys.endpoint(endpoint.network, endpoint.id), endpoint]];
    if (claim) {
      if (claim.revision !== undefined) compare.push({ key: address, modRevision: claim.revision });
      else compare.push({ key: address, modRevision: 0 }, { key: keys.pool(endpoint.subnet), exists: true });
      put.push([address, claim.record]);
    }
    return this.kv.txnRevision({ compare, put });
  }

  getEndpoint(network: string, id: string): Promise<Entry<EndpointRecord> | undefined> {
    return this.kv.get<EndpointRecord>(keys.endpoint(network, id));
  }

  /**
   * Removes a dead host's endpoint and gives its address back in one step, if neither changed
   * since they were read and the host has no node record (it may have come back since it was
   * judged dead, and its container still runs): possibly by several hosts at once.
   */
  async releaseEndpoint(entry: Entry<EndpointRecord>): Promise<boolean> {
    const e = entry.value;
    const address = await this.getAddress(e.subnet, e.ip);
    const ownsAddress = address && address.value.kind === 'endpoint' && address.value.node === e.node;
    return this.kv.txn({
      compare: [
        { key: keys.endpoint(e.network, e.id), modRevision: entry.modRevision },
        { key: keys.node(e.node), modRevision: 0 },
        ...(ownsAddress ? [{ key: keys.address(e.subnet, e.ip), modRevision: address.modRevision }] : []),
      ],
      delete: [keys.endpoint(e.network, e.id), keys.name(e.network, e.id), ...(ownsAddress ? [keys.address(e.subnet, e.ip)] : [])],
    });
  }

  /** Removes an endpoint and its names (not its address), if it has not changed since it was read. */
  removeEndpointEntry(entry: Entry<EndpointRecord>): Promise<boolean> {
    const e = entry.value;
    return this.kv.txn({ compare: [{ key: keys.endpoint(e.network, e.id), modRevision: entry.modRevision }], delete: [keys.endpoint(e.network, e.id), keys.name(e.network, e.id)] });
  }

  /**
   * Announces again an endpoint etcd lost (its host's lease expired while the container kept
   * running): claims its address back if nobody took it meanwhile, and publishes it.
   */
  async republishEndpoint(e: EndpointRecord): Promise<boolean> {
    const address = await this.getAddress(e.subnet, e.ip);
    if (address && (address.value.kind !== 'endpoint' || address.value.node !== e.node)) return false;
    const pool = await this.getPool(e.subnet);
    const network = await this.getNetwork(e.network);
    if (!pool || !network) return false;
    const claim: AddressRecord = { ip: e.ip, kind: 'endpoint', node: e.node, claimedAt: e.createdAt };
    return this.kv.txn({
      compare: [
        { key: keys.address(e.subnet, e.ip), modRevision: address?.modRevision ?? 0 },
        { key: keys.endpoint(e.network, e.id), modRevision: 0 },
        { key: keys.pool(e.subnet), modRevision: pool.modRevision },
        { key: keys.network(e.network), modRevision: network.modRevision },
      ],
      put: [[keys.address(e.subnet, e.ip), claim], [keys.endpoint(e.network, e.id), e]],
    });
  }

  async listEndpointEntries(): Promise<Entry<EndpointRecord>[]> {
    return (await this.kv.list<EndpointRecord>(keys.endpointsPrefix)).entries;
  }

  async listAddressEntries(subnet: string): Promise<Entry<AddressRecord>[]> {
    return (await this.kv.list<AddressRecord>(keys.addressesPrefix(subnet))).entries;
  }

  /** Removes the endpoint and its names in one step: no host ever resolves a name to a freed address. */
  async deleteEndpoint(network: string, id: string): Promise<void> {
    const both = [keys.endpoint(network, id), keys.name(network, id)];
    if (await this.kv.txn({ compare: [{ key: both[0]!, exists: true }], delete: both })) return;
    // The endpoint was gone already: its names may not be (written by an older version).
    await this.kv.idempotent((c) => c.delete().key(both[1]!).exec());
  }

  async listEndpoints(network?: string): Promise<{ endpoints: EndpointRecord[]; revision: number }> {
    const prefix = network === undefined ? keys.endpointsPrefix : keys.networkEndpointsPrefix(network);
    const { entries, revision } = await this.kv.list<EndpointRecord>(prefix);
    return { endpoints: entries.map((e) => e.value), revision };
  }

  // ---- names -------------------------------------------------------------------------

  /**
   * Writes a container's names on a network, only while its endpoint exists: names learnt from
   * the engine a moment after the endpoint was deleted must not come back as a stale record.
   */
  putName(record: NameRecord): Promise<boolean> {
    return this.kv.txn({
      compare: [{ key: keys.endpoint(record.network, record.endpoint), exists: true }],
      put: [[keys.name(record.network, record.endpoint), record]],
    });
  }

  async deleteName(network: string, endpoint: string): Promise<void> {
    await this.kv.idempotent((c) => c.delete().key(keys.name(network, endpoint)).exec());
  }

  async listNames(): Promise<{ entries: Entry<NameRecord>[]; revision: number }> {
    return this.kv.list<NameRecord>(keys.namesPrefix);
  }

  watchNames(fromRevision: number, handlers: WatchHandlers) {
    return this.kv.watch(keys.namesPrefix, fromRevision, handlers);
  }

  // ---- nodes -------------------------------------------------------------------------

  /**
   * Writes this node's record under a new lease kept alive in the background. `onLost` fires
   * when etcd says the lease is gone (we were cut off longer than its TTL): the caller
   * registers again and re-announces what it has.
   */
  async registerNode(node: NodeRecord, ttlSeconds: number, onLost: () => void): Promise<Lease> {
    const lease = this.kv.client.lease(ttlSeconds, { autoKeepAlive: true });
    lease.on('lost', (err) => {
      this.log.warn({ err: errorMessage(err) }, 'node lease lost');
      onLost();
    });
    try {
      await lease.put(keys.node(node.name)).value(JSON.stringify(node));
    } catch (err) {
      lease.release();
      throw unavailable(`etcd: could not register node ${node.name}: ${errorMessage(err)}`, err);
    }
    return lease;
  }

  watchNodes(fromRevision: number, handlers: WatchHandlers) {
    return this.kv.watch(keys.nodesPrefix, fromRevision, handlers);
  }

  async listNodesAt(): Promise<{ nodes: NodeRecord[]; revision: number }> {
    const { entries, revision } = await this.kv.list<NodeRecord>(keys.nodesPrefix);
    return { nodes: entries.map((e) => e.value), revision };
  }

  async listNodes(): Promise<NodeRecord[]> {
    return (await this.kv.list<NodeRecord>(keys.nodesPrefix)).entries.map((e) => e.value);
  }

  // ---- encryption keys ---------------------------------------------------------------

  /** The key set (if any) and the store revision to watch it from. */
  async getKeySet(): Promise<{ entry: Entry<KeySetRecord> | undefined; revision: number }> {
    const { entries, revision } = await this.kv.list<KeySetRecord>(keys.encryptionPrefix);
    return { entry: entries.find((e) => e.key.endsWith(keys.encryptionKeys)), revision };
  }

  /** Creates the key set if none exists yet; false if another host was first. */
  createKeySet(set: KeySetRecord): Promise<boolean> {
    return this.kv.txn({ compare: [{ key: keys.encryptionKeys, modRevision: 0 }], put: [[keys.encryptionKeys, set]] });
  }

  /** Replaces the key set if nobody changed it since `modRevision`: one host wins each rotation step. */
  replaceKeySet(set: KeySetRecord, modRevision: number): Promise<boolean> {
    return this.kv.txn({ compare: [{ key: keys.encryptionKeys, modRevision }], put: [[keys.encryptionKeys, set]] });
  }

  watchKeySet(fromRevision: number, handlers: WatchHandlers) {
    return this.kv.watch(keys.encryptionPrefix, fromRevision, handlers);
  }

  // ---- watches -----------------------------------------------------------------------

  watchNetworks(fromRevision: number, handlers: WatchHandlers) {
    return this.kv.watch(keys.networksPrefix, fromRevision, handlers);
  }

  watchEndpoints(fromRevision: number, handlers: WatchHandlers) {
    return this.kv.watch(keys.endpointsPrefix, fromRevision, handlers);
  }
}
