import { crashPoint } from '../lib/crash-point.js';
import { badRequest, conflict, errorMessage, notFound, PluginError, unavailable } from '../lib/errors.js';
import { KeyedQueue } from '../lib/keyed-queue.js';
import type { Logger } from '../lib/logger.js';
import { PendingRetry } from '../lib/retry.js';
import { type AddressClaim, type ClusterStore, isUnwritten } from '../store/cluster-store.js';
import type { AddressKind, AddressRecord, PoolRecord } from '../store/records.js';
import { AddressBook, inStripe } from './address-book.js';
import { firstOverlap, isUsableAddress, nextFreeSubnet } from './allocation.js';
import { addressKey, type Cidr, containsCidr, formatCidr, formatIPv4, parseCidr, parseIPv4, usableRange } from './cidr.js';
import { formatPoolId, isSamePool, newGeneration, type PoolHandle, parsePoolId } from './pool-id.js';
import { RecentClaims } from './recent-claims.js';
import type { HostStripe } from './stripe.js';

/** The IPAM option (and driver option) that marks a copy of an existing cluster network. */
export const CLUSTER_ID_OPTION = 'ts-overlay.id';

export interface IpamSettings {
  readonly node: string;
  readonly defaultPool: Cidr;
  readonly poolSize: number;
  /**
   * This host's share of each pool's addresses (see AddressBook.startClaim); none: no
   * preference. When settled, a pick from it is claimed by the transaction that publishes its
   * endpoint.
   */
  readonly stripe?: () => HostStripe | undefined;
  /** The endpoint of this host on an address, if any (the driver's local state). */
  readonly endpointOn?: (subnet: string, ip: string) => string | undefined;
}

/** The cluster network whose copy this host's engine is getting (RequestPool with -o ts-overlay.id). */
export interface ClusterNetworkRef {
  readonly id: string;
  readonly subnet: string;
  readonly createdAt: string;
}

export interface PoolRequest {
  readonly pool?: string; // --subnet
  readonly subPool?: string; // --ip-range
  /** Set when this host's engine is getting its copy of an existing cluster network. */
  readonly clusterNetwork?: ClusterNetworkRef;
}

/**
 * Whether the pool is the one of that network: bound to it by CreateNetwork, or (a pool from
 * before pools were bound) made before the network by the same host's RequestPool. A pool made
 * after the network is a newer network's that got the subnet during the old one's removal.
 */
function poolOf(pool: PoolRecord, net: ClusterNetworkRef): boolean {
  return pool.network === undefined ? pool.createdAt <= net.createdAt : pool.network === net.id;
}

export interface AddressRequest {
  readonly poolId: string;
  readonly address?: string;
  readonly kind: 'gateway' | 'endpoint';
}

const MAX_ATTEMPTS = 64;
/** Addresses whose written revision is kept for ReleaseAddress (IpamService.written): more containers than a host runs. */
const MAX_WRITTEN = 65_536;

/**
 * Cluster-wide address management. Subnets never overlap anywhere in the cluster, so the subnet
 * names the pool on every host (it is the store's key); the PoolID adds the pool's generation
 * so that a late call for an earlier pool of the subnet cannot touch the current one.
 */
export class IpamService {
  constructor(
    private readonly store: ClusterStore,
    private readonly settings: IpamSettings,
    private readonly log: Logger,
    /** Taken addresses as a watch last reported them; see AddressBook. */
    private readonly book: AddressBook = new AddressBook(),
  ) {}

  /** Claims RequestAddress left for CreateEndpoint; an unwritten one dropped unused frees its address here. */
  private readonly claims = new RecentClaims({
    onDrop: (subnet, ip, claim) => {
      if (isUnwritten(claim)) this.book.done(subnet, parseIPv4(ip)!, false);
    },
  });

  /**
   * The mod revision of each address this host wrote with its endpoint (publishOnClaim), by
   * subnet and address. ReleaseAddress frees such an address comparing that revision instead of
   * reading the address first: any write to it since (another claim, a relabel, a release)
   * fails the compare, and the address is read as before. Bounded: the oldest go first, and a
   * restarted plugin starts without them.
   */
  private readonly written = new Map<string, number>();

  async requestPool(req: PoolRequest): Promise<{ poolId: string; subnet: string }> {
    if (req.clusterNetwork) return this.joinPool(req.clusterNetwork);

    const wanted = req.pool ? parseCidr(req.pool) : undefined;
    if (req.pool && !wanted) throw badRequest(`subnet "${req.pool}" is not an IPv4 CIDR with zero host bits, such as 10.1.0.0/24`);
    const range = req.subPool ? parseCidr(req.subPool) : undefined;
    if (req.subPool && !range) throw badRequest(`ip-range "${req.subPool}" is not an IPv4 CIDR with zero host bits`);
    if (range && !wanted) throw badRequest('--ip-range needs --subnet');
    if (range && wanted && !containsCidr(wanted, range)) {
      throw badRequest(`ip-range ${req.subPool} is not inside subnet ${req.pool}`);
    }

    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const { pools, guardRevision } = await this.store.listPools();
      const taken = pools.map((p) => ({ pool: p, cidr: parseCidr(p.subnet)! }));
      let subnet: Cidr;
      if (wanted) {
        const clash = firstOverlap(wanted, taken);
        if (clash) {
          // An unbound pool belongs to a network being created, or removed with hosts still letting go.
          const state = clash.pool.network === undefined ? `, being created or removed; held by ${clash.pool.users.join(', ')}` : '';
          throw conflict(`subnet ${formatCidr(wanted)} overlaps ${clash.pool.subnet}, already used by a ts-overlay network (created on ${clash.pool.createdBy}${state}); choose another --subnet`);
        }
        subnet = wanted;
      } else {
        const free = nextFreeSubnet(this.settings.defaultPool, this.settings.poolSize, taken.map((t) => t.cidr));
        if (!free) {
          throw conflict(`no free /${this.settings.poolSize} left in the default pool ${formatCidr(this.settings.defaultPool)}; give --subnet or remove unused networks`);
        }
        subnet = free;
      }
      const record: PoolRecord = {
        subnet: formatCidr(subnet),
        ...(range ? { ipRange: formatCidr(range) } : {}),
        users: [this.settings.node],
        createdBy: this.settings.node,
        createdAt: new Date().toISOString(),
        generation: newGeneration(),
      };
      if (await this.store.createPool(record, guardRevision)) {
        crashPoint('ipam.pool-created');
        this.log.info({ subnet: record.subnet, generation: record.generation }, 'pool allocated');
        return { poolId: formatPoolId(record), subnet: record.subnet };
      }
      // Another host changed the pools between our read and our write: look again.
    }
    throw unavailable('etcd: pools kept changing under concurrent creations; try again');
  }

  /** This host's engine gets a copy of a network that exists in the cluster: share its pool. */
  private joinPool(net: ClusterNetworkRef): Promise<{ poolId: string; subnet: string }> {
    return this.poolTurns.run(net.subnet, async () => {
      // This host uses the subnet's pool again: a release left from an earlier copy (below)
      // must not take it from under the new one.
      for (const id of this.releasesLeft) if (parsePoolId(id).subnet === net.subnet) this.releasesLeft.delete(id);
      return this.joinPoolNow(net);
    });
  }

  private async joinPoolNow(net: ClusterNetworkRef): Promise<{ poolId: string; subnet: string }> {
    const subnet = net.subnet;
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const entry = await this.store.getPool(subnet);
      if (!entry || !poolOf(entry.value, net)) throw notFound(`pool ${subnet} of cluster network ${net.id} no longer exists (the network is being removed)`);
      const poolId = formatPoolId(entry.value);
      if (entry.value.users.includes(this.settings.node)) return { poolId, subnet };
      const next = { ...entry.value, users: [...entry.value.users, this.settings.node] };
      if (await this.store.updatePool(next, entry.modRevision)) {
        crashPoint('ipam.pool-joined');
        return { poolId, subnet };
      }
    }
    throw unavailable(`etcd: pool ${subnet} kept changing; try again`);
  }

  /**
   * Drops this host from the pool's users; the last user frees the pool and its addresses.
   * Releasing a pool that is gone, or that the subnet's next pool replaced, is a no-op.
   */
  async releasePool(poolId: string): Promise<void> {
    const handle = parsePoolId(poolId);
    await this.poolTurns.run(handle.subnet, async () => {
      try {
        await this.leavePool(poolId, handle);
        this.releasesLeft.delete(poolId);
      } catch (err) {
        if (err instanceof PluginError && err.kind === 'unavailable') {
          this.releasesLeft.add(poolId);
          this.releaseRetry.arm();
        }
        throw err;
      }
    });
  }

  /**
   * Pools whose ReleasePool failed for want of etcd. The engine forgets a pool whatever the
   * answer (libnetwork only logs a failed release), so nobody would release it again, and its
   * subnet would stay taken until this plugin restarts (the reconciler frees such pools only at
   * start-up). Retried every 2 s until etcd takes it; dropped once this host joins the subnet's
   * pool again (joinPool). Releases and joins of one subnet take turns (poolTurns).
   */
  private readonly releasesLeft = new Set<string>();
  private readonly poolTurns = new KeyedQueue();
  private readonly releaseRetry = new PendingRetry(2000, () => void this.retryReleases());

  /**
   * No release is retried after this (the plugin is stopping; its next start's reconcile pass
   * frees the pools no network here uses).
   */
  stopRetries(): void {
    this.releaseRetry.close();
  }

  private async retryReleases(): Promise<void> {
    for (const poolId of [...this.releasesLeft]) {
      const handle = parsePoolId(poolId);
      await this.poolTurns
        .run(handle.subnet, async () => {
          if (!this.releasesLeft.has(poolId)) return; // joined again meanwhile
          await this.leavePool(poolId, handle);
          this.releasesLeft.delete(poolId);
          this.log.info({ poolId }, 'released a pool whose ReleasePool had failed');
        })
        .catch((err: unknown) => {
          this.log.debug({ err: errorMessage(err), poolId }, 'releasing the pool failed again; retrying in 2 s');
          this.releaseRetry.arm();
        });
    }
  }

  private async leavePool(poolId: string, handle: PoolHandle): Promise<void> {
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const entry = await this.store.getPool(handle.subnet);
      if (!entry) return; // already gone: releasing twice is fine
      if (!isSamePool(entry.value, handle)) {
        this.log.info({ poolId, current: formatPoolId(entry.value) }, 'ReleasePool for an earlier pool of this subnet: nothing to do');
        return;
      }
      const users = entry.value.users.filter((u) => u !== this.settings.node);
      const done =
        users.length === 0
          ? await this.store.deletePool(handle.subnet, entry.modRevision)
          : await this.store.updatePool({ ...entry.value, users }, entry.modRevision);
      if (done) {
        if (users.length === 0) this.log.info({ subnet: handle.subnet, generation: entry.value.generation }, 'pool released');
        return;
      }
    }
    throw unavailable(`etcd: pool ${poolId} kept changing; try again`);
  }

  /** The pool the handle names: the watch-fed copy when it is that pool, else etcd's. */
  private async currentPool(handle: PoolHandle): Promise<PoolRecord | undefined> {
    const known = this.book.pool(handle.subnet);
    return known && isSamePool(known, handle) ? known : this.storedPool(handle);
  }

  /** The pool the handle names as etcd has it now; undefined when gone or replaced by a newer one. */
  private async storedPool(handle: PoolHandle): Promise<PoolRecord | undefined> {
    const stored = (await this.store.getPool(handle.subnet))?.value;
    return stored && isSamePool(stored, handle) ? stored : undefined;
  }

  /** Returns the address with the pool's prefix length, as Docker expects ("10.0.0.2/24"). */
  async requestAddress(req: AddressRequest): Promise<string> {
    const handle = parsePoolId(req.poolId);
    // The watch-fed copy spares a round trip; the claim's transaction still checks the pool exists.
    // (A claim racing the pool's release and the subnet's next pool can land in the new pool: it
    // is an address with no endpoint, which the reconciler frees after its grace period.)
    const pool = await this.currentPool(handle);
    if (!pool) throw notFound(`pool ${req.poolId} is not allocated (released, or never requested)`);
    const subnet = parseCidr(pool.subnet)!;
    const withPrefix = (ip: number) => `${formatIPv4(ip)}/${subnet.prefix}`;

    const specific = req.address ?? (req.kind === 'gateway' ? formatIPv4(usableRange(subnet).first) : undefined);
    if (specific !== undefined) {
      const ip = parseIPv4(specific);
      if (ip === undefined) throw badRequest(`address "${specific}" is not an IPv4 address`);
      if (!isUsableAddress(subnet, ip)) throw badRequest(`address ${specific} is not a usable address of subnet ${pool.subnet}`);
      const kind: AddressKind = req.kind;
      if (this.claims.isUnwritten(pool.subnet, specific)) throw conflict(`address ${specific} is already in use (endpoint on ${this.settings.node}, being created)`);
      const claimedRecord = this.claimRecord(specific, kind);
      const claimed = await this.store.claimAddress(pool.subnet, claimedRecord);
      if (claimed !== undefined) {
        this.book.add(pool.subnet, specific);
        if (kind === 'endpoint') this.claims.remember(pool.subnet, specific, { revision: claimed, record: claimedRecord }); // a gateway is no container's
        crashPoint('ipam.address-claimed');
        return withPrefix(ip);
      }
      const holder = await this.store.getAddress(pool.subnet, specific);
      // The gateway and aux addresses are shared by every host's copy of the network.
      if (holder && (holder.value.kind === 'aux' || (holder.value.kind === 'gateway' && req.kind === 'gateway'))) {
        return withPrefix(ip);
      }
      if (!holder) {
        if (!(await this.storedPool(handle))) throw notFound(`pool ${req.poolId} was released while allocating`);
        return this.requestAddress(req); // the address was released meanwhile: try again
      }
      throw conflict(`address ${specific} is already in use (${holder.value.kind} on ${holder.value.node})`);
    }

    const range = pool.ipRange ? parseCidr(pool.ipRange) : undefined;
    const stripe = this.settings.stripe?.();
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const ip = this.book.startClaim(pool.subnet, range, stripe);
      if (ip === undefined) throw conflict(`no free address left in ${pool.ipRange ?? pool.subnet}`);
      const record = this.claimRecord(formatIPv4(ip), 'endpoint');
      if (stripe?.settled && inStripe(subnet, ip, stripe)) {
        // No other host picks from this host's settled stripe, so the claim is written with
        // the endpoint, in the transaction that publishes it (CreateEndpoint starts it, Join
        // waits for it): one etcd round trip per container. The book keeps the address claimed
        // here meanwhile. (Another host's --ip of this very address in between wins; our Join
        // then fails, naming the holder.)
        this.claims.remember(pool.subnet, record.ip, { record });
        return withPrefix(ip);
      }
      let claimed: number | undefined;
      try {
        claimed = await this.store.claimAddress(pool.subnet, record);
      } catch (err) {
        // etcd failed us: the address is free as far as this host knows (a write that landed
        // all the same reaches the book through the watch, as another host's claim would).
        this.book.done(pool.subnet, ip, false);
        throw err;
      }
      // Won, or lost: another host holds it (or the pool went away, which the next read tells).
      this.book.done(pool.subnet, ip, true);
      if (claimed !== undefined) {
        this.claims.remember(pool.subnet, record.ip, { revision: claimed, record });
        crashPoint('ipam.address-claimed');
        return withPrefix(ip);
      }
      if (!(await this.storedPool(handle))) throw notFound(`pool ${req.poolId} was released while allocating`);
      // Losing again and again means the book lags behind etcd: read the pool's addresses once.
      if (attempt % 4 === 3) {
        for (const a of await this.store.listAddresses(pool.subnet)) this.book.add(pool.subnet, a.ip);
      }
    }
    throw unavailable(`etcd: could not claim an address in ${pool.subnet} under heavy contention; try again`);
  }

  /**
   * Frees an endpoint's address that this host handed out. Gateway and aux addresses live as
   * long as the pool. Another host's claim is never this engine's to release: a late
   * ReleaseAddress for an address that was meanwhile freed and handed out again elsewhere
   * would otherwise free it under its new container (found by test/hardening/races.test.ts).
   * Nor is an address an endpoint of this host uses: the engine sends DeleteEndpoint first, so
   * that ReleaseAddress is a late one, from a container whose endpoint never reached etcd
   * before a plugin restart, after which the address went to the endpoint here now. That
   * endpoint may come while this call waits for etcd: it is looked for again once the claim is
   * read, and one published after that read moved the claim's revision (putEndpoint), which
   * the release compares.
   */
  async releaseAddress(poolId: string, address: string): Promise<void> {
    const handle = parsePoolId(poolId);
    const ip = address.split('/')[0]!;
    if (parseIPv4(ip) === undefined) throw badRequest(`address "${address}" is not an IPv4 address`);
    if (this.usedHere(handle.subnet, ip)) return;
    this.claims.forget(handle.subnet, ip);
    if (!(await this.currentPool(handle))) return; // the pool, and its addresses, are gone
    if (await this.releaseWritten(handle.subnet, ip)) return;
    const entry = await this.store.getAddress(handle.subnet, ip);
    if (!entry || entry.value.kind !== 'endpoint' || entry.value.node !== this.settings.node) return;
    if (this.usedHere(handle.subnet, ip)) return;
    if (await this.store.releaseAddress(handle.subnet, entry)) this.book.remove(handle.subnet, ip);
  }

  /** Frees an address at the revision this host wrote it; false when that is not known here or the address changed since. */
  private async releaseWritten(subnet: string, ip: string): Promise<boolean> {
    const key = addressKey(subnet, ip);
    const revision = this.written.get(key);
    if (revision === undefined) return false;
    this.written.delete(key);
    if (!(await this.store.releaseAddressAt(subnet, ip, revision))) return false;
    this.book.remove(subnet, ip);
    return true;
  }

  private usedHere(subnet: string, ip: string): boolean {
    const user = this.settings.endpointOn?.(subnet, ip);
    if (user === undefined) return false;
    this.log.warn({ ip, subnet, endpoint: user }, 'ReleaseAddress for an address an endpoint here uses: not released');
    return true;
  }

  /**
   * The claim of an address this host's RequestAddress handed out, taken for an endpoint that is
   * about to be published on it. Throws when the address is not this host's to give (released,
   * the gateway, another host's): CreateEndpoint refuses it before answering.
   */
  async takeClaim(subnet: string, ip: string): Promise<AddressClaim> {
    return this.claims.take(subnet, ip) ?? (await this.storedClaim(subnet, ip));
  }

  /**
   * Publishes an endpoint on a claim from takeClaim: `publish` runs the endpoint's transaction
   * with the claim and tells the revision it wrote the endpoint and its address at, undefined
   * when it lost. Throws when the address is no longer this host's to give: freed and taken by
   * another container meanwhile. False: the claim stands, and the publish lost for a reason of
   * its own (the network went).
   */
  async publishOnClaim(subnet: string, ip: string, claim: AddressClaim, publish: (claim: AddressClaim) => Promise<number | undefined>): Promise<boolean> {
    const unwritten = isUnwritten(claim);
    let published: boolean;
    try {
      const revision = await publish(claim);
      published = revision !== undefined;
      if (revision !== undefined) this.rememberWritten(subnet, ip, revision);
    } catch (err) {
      // etcd failed us: the engine gives the address back (ReleaseAddress, after the failed
      // Join and DeleteEndpoint), which needs the claim here.
      if (unwritten) this.claims.remember(subnet, ip, claim);
      throw err;
    }
    if (published) {
      if (unwritten) this.book.done(subnet, parseIPv4(ip)!, true);
      return true;
    }
    const now = await this.store.getAddress(subnet, ip);
    const lost = unwritten ? now !== undefined : now?.modRevision !== claim.revision;
    if (unwritten) this.book.done(subnet, parseIPv4(ip)!, now !== undefined);
    if (lost) throw notFound(addressNotOurs(ip, subnet, now?.value));
    return false;
  }

  private rememberWritten(subnet: string, ip: string, revision: number): void {
    const key = addressKey(subnet, ip);
    this.written.delete(key); // re-inserted: the newest again
    this.written.set(key, revision);
    if (this.written.size > MAX_WRITTEN) this.written.delete(this.written.keys().next().value!);
  }

  /**
   * The claim of an address RecentClaims does not have (a restart since RequestAddress, or many
   * claims never used), read from etcd. An address nobody holds is refused, not claimed now: it
   * was freed meanwhile, or never handed out by this host's IPAM (the engine asks for every
   * address it uses, so that is a caller's mistake; one handed out without a claim, or whose
   * endpoint's write had not gone through, just before a restart costs that one container a
   * retry).
   */
  private async storedClaim(subnet: string, ip: string): Promise<AddressClaim> {
    const entry = await this.store.getAddress(subnet, ip);
    if (entry?.value.kind === 'endpoint' && entry.value.node === this.settings.node) return { revision: entry.modRevision, record: entry.value };
    throw notFound(addressNotOurs(ip, subnet, entry?.value));
  }

  private claimRecord(ip: string, kind: AddressKind): AddressRecord {
    return { ip, kind, node: this.settings.node, claimedAt: new Date().toISOString() };
  }

  /** Marks the network's aux addresses so that other hosts' copies may reserve them too. */
  async markAuxAddresses(subnet: string, addresses: readonly string[]): Promise<void> {
    for (const address of addresses) {
      const ip = address.split('/')[0]!;
      this.claims.forget(subnet, ip);
      const entry = await this.store.getAddress(subnet, ip);
      // Only what the engine reserved for it (a plain claim) becomes aux; never the gateway.
      if (entry && entry.value.kind === 'endpoint') {
        await this.store.relabelAddress(subnet, entry, { ...entry.value, kind: 'aux' });
      }
    }
  }
}

const addressNotOurs = (ip: string, subnet: string, holder?: AddressRecord) =>
  `address ${ip} is not allocated to this host in ${subnet} (${holder ? `${holder.kind} on ${holder.node} now` : 'released meanwhile'}); start the container again`;
