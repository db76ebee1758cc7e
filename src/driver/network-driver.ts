import type { Dataplane } from '../dataplane/dataplane.js';
import { VXLAN_OVERHEAD } from '../dataplane/host-info.js';
import { TUNNEL_OVERHEAD } from '../dataplane/tunnel-packet.js';
import { nextFreeVni } from '../ipam/allocation.js';
import { contains, formatCidr, macFromIPv4, parseAddressWithPrefix, parseCidr, parseIPv4 } from '../ipam/cidr.js';
import type { IpamService } from '../ipam/ipam-service.js';
import { badRequest, conflict, errorMessage, internal, notFound, PluginError, unavailable } from '../lib/errors.js';
import { crashPoint } from '../lib/crash-point.js';
import { KeyedQueue } from '../lib/keyed-queue.js';
import type { Logger } from '../lib/logger.js';
import { PendingRetry } from '../lib/retry.js';
import type { AddressClaim, ClusterStore, Entry } from '../store/cluster-store.js';
import type { EndpointRecord, NetworkRecord, PoolRecord } from '../store/records.js';
import type { LocalNetwork, LocalState } from './local-state.js';
import { chooseNetworkMtu, type NodeUnderlay, tooLargeForUnderlay } from './network-mtu.js';
import { networkMtu, type NetworkOptions, parseNetworkOptions, userOptions } from './network-options.js';
import { PendingPublishes } from './pending-publishes.js';
import { ResolverRoutes } from './resolver-routes.js';

/** The address space our IPAM driver reports; a pool from any other IPAM driver is refused. */
export const ADDRESS_SPACE = 'ts-overlay';

export interface DriverSettings {
  readonly node: string;
  readonly vtep: string;
  readonly vniRange: { readonly min: number; readonly max: number };
  /** MTU of the interface holding vtep. */
  readonly underlayMtu: number;
  /** The live nodes and their underlay MTUs: a new network's MTU must fit every one of them. */
  readonly liveNodes: () => readonly NodeUnderlay[];
  /** The DNS responder's address: Join routes it through the container's interface. Undefined: off. */
  readonly resolverAddr?: string;
}

export interface Ipv4Data {
  readonly addressSpace: string;
  readonly pool: string;
  readonly gateway: string;
  readonly auxAddresses: Readonly<Record<string, string>>;
}

export interface CreateNetworkInput {
  readonly networkId: string;
  readonly genericOptions: Readonly<Record<string, unknown>>;
  readonly ipv4: readonly Ipv4Data[];
  readonly ipv6Count: number;
}

export interface CreateEndpointInput {
  readonly networkId: string;
  readonly endpointId: string;
  readonly address: string; // "10.0.0.2/24"
  readonly addressIPv6: string;
  readonly macAddress: string;
}

/** Reacts to engine requests: one method per NetworkDriver call that changes something. */
export class NetworkDriver {
  private readonly queue = new KeyedQueue();
  private readonly publishes = new PendingPublishes();
  readonly resolverRoutes = new ResolverRoutes();

  constructor(
    private readonly settings: DriverSettings,
    private readonly store: ClusterStore,
    private readonly ipam: IpamService,
    private readonly dataplane: Dataplane,
    private readonly local: LocalState,
    private readonly onNetworkReady: (n: LocalNetwork) => void,
    private readonly log: Logger,
  ) {}

  createNetwork(input: CreateNetworkInput): Promise<void> {
    return this.queue.run(input.networkId, () => this.doCreateNetwork(input));
  }

  private async doCreateNetwork(input: CreateNetworkInput): Promise<void> {
    const known = this.local.network(input.networkId);
    if (known) {
      // A repeated call is fine; the same ID with another subnet is not.
      if (input.ipv4[0]?.pool !== known.record.subnet) throw conflict(`network ${input.networkId} already exists here with subnet ${known.record.subnet}`);
      return;
    }
    if (input.ipv6Count > 0) throw badRequest('ts-overlay does not support IPv6 networks yet; create the network without --ipv6');
    if (input.ipv4.length !== 1) throw badRequest(`a ts-overlay network has exactly one IPv4 subnet (got ${input.ipv4.length})`);
    const v4 = input.ipv4[0]!;
    if (v4.addressSpace !== ADDRESS_SPACE) {
      throw badRequest(`ts-overlay networks need ts-overlay's IPAM, which keeps subnets unique across hosts: add --ipam-driver ts-overlay (the pool came from address space "${v4.addressSpace}")`);
    }
    const options = parseNetworkOptions(input.genericOptions);
    validateIpv4Data(v4);
    const pool = await this.heldPool(v4.pool);

    let record: NetworkRecord;
    let created = false;
    if (options.clusterId) {
      // This engine is getting its copy of a network that another host created.
      const existing = await this.store.getNetwork(options.clusterId);
      if (!existing) throw notFound(`cluster network ${options.clusterId} no longer exists`);
      if (existing.value.subnet !== v4.pool) {
        throw conflict(`cluster network ${options.clusterId} has subnet ${existing.value.subnet}, not ${v4.pool}`);
      }
      record = existing.value;
    } else {
      // An encrypted network's frames also carry the tunnel's header and tag.
      const choice = chooseNetworkMtu(options.mtu, { name: this.settings.node, underlayMtu: this.settings.underlayMtu }, this.settings.liveNodes());
      const chosen = options.mtu ?? networkMtu({ encrypted: options.encrypted === true }, choice.mtu);
      record = await this.createClusterNetwork(input.networkId, v4, pool, input.genericOptions, options, chosen);
      this.log.info({ network: record.id, mtu: chosen }, `network MTU from ${choice.reason}${chosen !== choice.mtu ? ` - ${choice.mtu - chosen} (encrypted)` : ''}`);
      created = true;
    }
    // The cluster's figure; a record from before MTUs were recorded: this host's default.
    const mtu = record.mtu ?? options.mtu ?? networkMtu(record, this.settings.underlayMtu - VXLAN_OVERHEAD);
    const carried = mtu + (record.encrypted ? TUNNEL_OVERHEAD : 0);
    if (tooLargeForUnderlay(carried, this.settings.underlayMtu)) {
      this.log.warn({ network: record.id, mtu, underlayMtu: this.settings.underlayMtu }, `network MTU ${mtu} + ${carried - mtu + VXLAN_OVERHEAD} does not fit this host's underlay MTU ${this.settings.underlayMtu}: full-size frames to and from here will be dropped (ts-overlay doctor)`);
    }

    const localNetwork: LocalNetwork = { engineId: input.networkId, record, mtu };
    try {
      await this.local.withDevices(record.vni, async () => {
        await this.dataplane.ensureNetwork({ vni: record.vni, mtu, encrypted: record.encrypted === true, subnet: record.subnet });
        crashPoint('create-network.devices-made');
        await this.store.putCopy({ network: record.id, node: this.settings.node, engineNetworkId: input.networkId });
        crashPoint('create-network.copy-recorded');
        this.local.addNetwork(localNetwork);
      });
    } catch (err) {
      // Leave nothing half-made: no devices, and no cluster record this host just wrote.
      await this.local
        .withDevices(record.vni, async () => {
          if (!this.local.vniUsedByAnother(record.vni, input.networkId)) await this.dataplane.deleteNetwork(record.vni);
        })
        .catch((e) => this.log.error({ err: e }, 'rollback of devices failed'));
      if (created) {
        const entry = await this.store.getNetwork(record.id).catch(() => undefined);
        if (entry) await this.store.deleteNetwork(entry).catch((e) => this.log.error({ err: e }, 'rollback of network record failed'));
      }
      throw err;
    }
    this.onNetworkReady(localNetwork);
    this.log.info({ network: record.id, vni: record.vni, subnet: record.subnet, copy: !created }, 'network ready');
  }

  /**
   * The pool of a CreateNetwork, which this host's engine must still hold: one released
   * meanwhile may already be another network's, and must never be used twice.
   */
  private async heldPool(subnet: string): Promise<Entry<PoolRecord>> {
    const pool = await this.store.getPool(subnet);
    if (!pool) throw notFound(`pool ${subnet} was not allocated by ts-overlay's IPAM`);
    if (!pool.value.users.includes(this.settings.node)) throw notFound(`pool ${subnet} is no longer held by this host (released meanwhile); create the network again`);
    return pool;
  }

  private async createClusterNetwork(
    id: string,
    v4: Ipv4Data,
    heldPool: Entry<PoolRecord>,
    generic: Readonly<Record<string, unknown>>,
    options: NetworkOptions,
    mtu: number,
  ): Promise<NetworkRecord> {
    const { vni: wantedVni, encrypted } = options;
    const { min, max } = this.settings.vniRange;
    if (wantedVni !== undefined && (wantedVni < min || wantedVni > max)) {
      throw badRequest(`vni ${wantedVni} is outside this cluster's VNI range ${min}-${max}`);
    }
    const auxIps = Object.values(v4.auxAddresses);
    if (auxIps.length > 0) {
      await this.ipam.markAuxAddresses(v4.pool, auxIps);
      crashPoint('create-network.aux-marked');
    }

    for (let attempt = 0; attempt < 32; attempt++) {
      // Read again after a lost transaction (the pool may have changed); nobody else's
      // network's: the record binds it.
      const pool = attempt === 0 ? heldPool : await this.heldPool(v4.pool);
      if (pool.value.network !== undefined && pool.value.network !== id) {
        throw conflict(`subnet ${v4.pool} already belongs to cluster network ${pool.value.network}`);
      }
      const vni = wantedVni ?? nextFreeVni(min, max, await this.store.takenVnis());
      if (vni === undefined) throw conflict(`no free VNI left in ${min}-${max}`);
      const record: NetworkRecord = {
        id,
        vni,
        subnet: v4.pool,
        gateway: v4.gateway,
        ...(pool.value.ipRange ? { ipRange: pool.value.ipRange } : {}),
        auxAddresses: { ...v4.auxAddresses },
        options: userOptions(generic),
        internal: false,
        attachable: false,
        labels: {},
        mtu,
        ...(encrypted ? { encrypted: true } : {}),
        createdBy: this.settings.node,
        createdAt: new Date().toISOString(),
      };
      if (await this.store.createNetwork(record, pool)) {
        crashPoint('create-network.record-created');
        return record;
      }
      if (await this.store.getNetwork(id)) throw conflict(`network ${id} already exists in the cluster`);
      if (wantedVni !== undefined && (await this.store.takenVnis()).has(wantedVni)) {
        throw conflict(`vni ${wantedVni} is already used by another ts-overlay network; choose another -o vni`);
      }
      // Another host took the VNI we picked, or the pool changed: look again.
    }
    throw unavailable('etcd: VNIs kept changing under concurrent creations; try again');
  }

  deleteNetwork(networkId: string): Promise<void> {
    return this.queue.run(networkId, async () => {
      const local = this.local.network(networkId);
      if (!local) return; // unknown or already deleted: deleting twice is fine
      try {
        await this.removeFromHost(local);
      } catch (err) {
        // The engine forgets the network whatever we answer: what is left is ours to finish.
        this.removalRetry.arm();
        throw err;
      }
    });
  }

  /**
   * Takes a network off this host: its devices (unless another network here uses its VNI now),
   * its copy record, then the cluster network unless another host uses it. Each step is safe to
   * repeat, so a removal cut off by etcd or the kernel is retried from the start.
   */
  private async removeFromHost(n: LocalNetwork): Promise<void> {
    await this.local.withDevices(n.record.vni, async () => {
      // Under the VNI's lock, where the reconciler looks: from here it never builds the network
      // back from its copy record, even if deleting that record fails below.
      this.local.startRemoval(n);
      if (!this.local.vniUsedByAnother(n.record.vni, n.engineId)) await this.dataplane.deleteNetwork(n.record.vni);
      crashPoint('delete-network.devices-deleted');
      await this.store.deleteCopy(this.settings.node, n.engineId);
    });
    crashPoint('delete-network.copy-deleted');
    await this.leaveClusterUnlessUsed(n.record);
    this.local.finishRemoval(n.engineId);
  }

  /** At most one retry waiting, every 2 s while removals are left (etcd away, a kernel refusal). */
  private readonly removalRetry = new PendingRetry(2000, () => void this.retryRemovals());

  private async retryRemovals(): Promise<void> {
    for (const n of this.local.removalsLeft()) {
      try {
        await this.queue.run(n.engineId, () => this.removeFromHost(n));
        this.log.info({ network: n.record.id, engineId: n.engineId }, 'finished removing a network whose DeleteNetwork had failed');
      } catch (err) {
        this.log.debug({ err: errorMessage(err), network: n.record.id }, 'removing the network failed again; retrying in 2 s');
        this.removalRetry.arm();
      }
    }
  }

  /**
   * After this host's copy went, the network leaves the cluster too, unless another host has
   * endpoints on it: then it stays, and propagation gives it back here. The delete compares the
   * listing it was judged by, so a container starting on another host in between (its endpoint
   * written after the listing) fails it, and the endpoints are listed again.
   */
  private async leaveClusterUnlessUsed(record: NetworkRecord): Promise<void> {
    const name = record.name ?? record.id;
    for (let attempt = 0; attempt < 5; attempt++) {
      const entry = await this.store.getNetwork(record.id);
      if (!entry) return; // removed in the cluster already: this was our copy going away
      const { endpoints, revision } = await this.store.listEndpoints(record.id);
      const elsewhere = [...new Set(endpoints.filter((e) => e.node !== this.settings.node).map((e) => e.node))];
      if (elsewhere.length > 0) {
        this.log.warn({ network: name, hosts: elsewhere }, `${stillInUse(name, elsewhere)}; it stays in the cluster and will be restored on this host`);
        return;
      }
      if (await this.store.deleteNetwork(entry, { endpointsAt: revision })) {
        this.log.info({ network: record.id }, 'network removed from the cluster');
        return;
      }
    }
    this.log.warn({ network: name }, 'the network kept changing while being removed from the cluster; it stays, and will be restored on this host');
  }

  createEndpoint(input: CreateEndpointInput): Promise<{ macAddress?: string }> {
    return this.queue.run(input.endpointId, async () => {
      const net = this.requireNetwork(input.networkId);
      if (input.addressIPv6) throw badRequest('ts-overlay does not support IPv6 addresses yet');
      const addr = parseAddressWithPrefix(input.address);
      const subnet = parseCidr(net.record.subnet)!;
      if (!addr || !contains(subnet, addr.ip)) {
        throw badRequest(`endpoint address "${input.address}" is not inside the network's subnet ${net.record.subnet}`);
      }
      const ip = input.address.split('/')[0]!;
      const mac = input.macAddress ? input.macAddress.toLowerCase() : macFromIPv4(addr.ip);
      if (!isUnicastMac(mac)) throw badRequest(`MAC address ${mac} is not a unicast address an interface can have`);
      const record: EndpointRecord = {
        id: input.endpointId,
        network: net.record.id,
        node: this.settings.node,
        vtep: this.settings.vtep,
        mac,
        ip,
        subnet: net.record.subnet,
        createdAt: new Date().toISOString(),
      };

      const existing = this.local.endpoint(input.endpointId);
      if (existing) {
        if (existing.ip !== ip || existing.network !== net.record.id) throw conflict(`endpoint ${input.endpointId} already exists with address ${existing.ip}`);
        return input.macAddress ? {} : { macAddress: mac };
      }
      // An address that is not this host's claim is refused here; the claim's transaction goes
      // to etcd while the engine goes on (pending-publishes.ts), and Join waits for it.
      const claim = await this.ipam.takeClaim(record.subnet, ip);
      this.local.addEndpoint(record);
      this.publishes.start(record.id, () => this.publishEndpoint(record, claim, net.record.name ?? net.record.id));
      // Only hand back a MAC we chose: the engine refuses a change to one it set itself.
      return input.macAddress ? {} : { macAddress: mac };
    });
  }

  /**
   * The address must still be this host's claim: one freed meanwhile (a reconcile after a
   * crash) may already be another container's. IPAM hands the claim to the endpoint's
   * transaction: compared there, or written there with the endpoint.
   */
  private async publishEndpoint(record: EndpointRecord, claim: AddressClaim, networkName: string): Promise<void> {
    const published = await this.ipam.publishOnClaim(record.subnet, record.ip, claim, (c) => this.store.putEndpointRevision(record, c));
    if (!published) throw notFound(`network ${networkName} was removed from the cluster`);
    crashPoint('create-endpoint.published');
  }

  deleteEndpoint(networkId: string, endpointId: string): Promise<void> {
    return this.queue.run(endpointId, async () => {
      const failure = await this.publishes.finish(endpointId);
      const endpoint = this.local.endpoint(endpointId) ?? (failure === undefined ? await this.findEndpoint(networkId, endpointId) : undefined);
      this.resolverRoutes.release(endpointId);
      // Waited for: a reconcile that lists the links meanwhile would find an interface of no
      // endpoint and count it as drift. Those of containers removed together go in one deletion.
      await this.dataplane.deletePort(endpointId);
      this.dataplane.endpointGone(endpointId);
      crashPoint('delete-endpoint.port-deleted');
      if (endpoint && failure !== undefined) await this.forgetUnpublished(endpoint, failure);
      else if (endpoint) await this.store.deleteEndpoint(endpoint.network, endpointId);
      this.local.removeEndpoint(endpointId);
    });
  }

  /**
   * An endpoint whose write failed (its Join, if any, said why), in the engine's undo. A write
   * its compares refused left nothing in etcd; one cut off from etcd may have been applied all
   * the same, so its record goes if etcd answers, else the reconciler removes it later (an
   * endpoint no engine has): the engine's undo of the container is not held up by etcd.
   */
  private async forgetUnpublished(endpoint: EndpointRecord, failure: unknown): Promise<void> {
    this.log.warn({ endpoint: endpoint.id, ip: endpoint.ip, err: errorMessage(failure) }, 'removing an endpoint whose record never reached etcd');
    if (failure instanceof PluginError && failure.kind === 'not-found') return;
    await this.store.deleteEndpoint(endpoint.network, endpoint.id).catch((err: unknown) => {
      this.log.warn({ endpoint: endpoint.id, err: errorMessage(err) }, 'its record, if etcd has one, is left to the reconciler');
    });
  }

  /** CreateEndpoint's write of the endpoint's record is under way (or failed, for DeleteEndpoint to take). */
  endpointWritePending(endpointId: string): boolean {
    return this.publishes.has(endpointId);
  }

  /**
   * No removal is retried after this (the plugin is stopping; its next start's reconcile pass
   * removes what a failed DeleteNetwork left, from the copy records).
   */
  stopRetries(): void {
    this.removalRetry.close();
  }

  /** Waits for the endpoint writes CreateEndpoint started (when the plugin stops). */
  settleWrites(): Promise<void> {
    return this.publishes.drain();
  }

  /**
   * Creates the endpoint's interface; the engine moves it into the container. With
   * the DNS responder on, also the route to it through that interface (once per container).
   */
  join(networkId: string, endpointId: string, sandboxKey = ''): Promise<{ srcName: string; resolverRoute?: string }> {
    return this.queue.run(endpointId, async () => {
      const net = this.requireNetwork(networkId);
      const endpoint = this.local.endpoint(endpointId) ?? (await this.findEndpoint(networkId, endpointId));
      if (!endpoint) {
        throw notFound(`endpoint ${endpointId} does not exist on network ${networkId} (never created, or its record was not written before the plugin restarted); start the container again`);
      }
      // The interface is made while the endpoint's record may still be on its way to etcd.
      const [port, published] = await Promise.allSettled([
        this.dataplane.ensurePort({ endpointId, vni: net.record.vni, mac: endpoint.mac, mtu: net.mtu }),
        this.publishes.settle(endpointId),
      ]);
      if (published.status === 'rejected') {
        // The engine undoes the container's start with DeleteEndpoint, which takes the failure.
        await this.dataplane.deletePort(endpointId).catch(() => undefined);
        throw published.reason;
      }
      if (port.status === 'rejected') {
        await this.dataplane.deletePort(endpointId).catch(() => undefined);
        throw internal(`could not create the interface of endpoint ${endpointId}: ${errorMessage(port.reason)}`, port.reason);
      }
      crashPoint('join.port-made');
      const srcName = port.value;
      const addr = this.settings.resolverAddr;
      return addr && this.resolverRoutes.claim(sandboxKey, endpointId) ? { srcName, resolverRoute: `${addr}/32` } : { srcName };
    });
  }

  leave(networkId: string, endpointId: string): Promise<void> {
    return this.queue.run(endpointId, async () => {
      this.requireNetwork(networkId);
      this.resolverRoutes.release(endpointId);
      // The engine takes the interface out of the container after Leave, so it is in the
      // host's namespace here only when the engine never moved it in (a start that failed).
      // Waited for: a Join of the endpoint after this one must not find it being deleted.
      await this.dataplane.deletePort(endpointId);
    });
  }

  endpointInfo(networkId: string, endpointId: string): Record<string, string> {
    const net = this.requireNetwork(networkId);
    const ep = this.local.endpoint(endpointId);
    if (!ep) throw notFound(`endpoint ${endpointId} does not exist on this host`);
    return { vni: String(net.record.vni), vtep: ep.vtep, mac: ep.mac, ip: ep.ip, interface: this.dataplane.portName(endpointId) };
  }

  private requireNetwork(networkId: string): LocalNetwork {
    const net = this.local.network(networkId);
    if (!net) throw notFound(`network ${networkId} is not a ts-overlay network on this host`);
    return net;
  }

  private async findEndpoint(networkId: string, endpointId: string): Promise<EndpointRecord | undefined> {
    const net = this.local.network(networkId);
    if (!net) return undefined;
    const entry = await this.store.getEndpoint(net.record.id, endpointId);
    if (entry && entry.value.node === this.settings.node) {
      this.local.addEndpoint(entry.value);
      return entry.value;
    }
    return undefined;
  }
}

/** Why a network cannot leave the cluster; the same words in the log and from the CLI. */
export function stillInUse(network: string, hosts: readonly string[]): string {
  return `network ${network} still has endpoints on ${hosts.join(', ')}`;
}

/** The pool, gateway and aux addresses the engine passes must be what our IPAM handed out. */
function validateIpv4Data(v4: Ipv4Data): void {
  const pool = parseCidr(v4.pool);
  if (!pool || formatCidr(pool) !== v4.pool) throw badRequest(`pool "${v4.pool}" is not an IPv4 subnet such as 10.0.0.0/24`);
  const gateway = parseAddressWithPrefix(v4.gateway);
  if (!gateway || gateway.prefix !== pool.prefix || !contains(pool, gateway.ip)) {
    throw badRequest(`gateway "${v4.gateway}" is not an address of pool ${v4.pool}`);
  }
  for (const [name, value] of Object.entries(v4.auxAddresses)) {
    const aux = parseAddressWithPrefix(value) ?? (parseIPv4(value) !== undefined ? { ip: parseIPv4(value)!, prefix: pool.prefix } : undefined);
    if (!aux || !contains(pool, aux.ip)) throw badRequest(`aux address ${name}="${value}" is not an address of pool ${v4.pool}`);
    if (aux.ip === gateway.ip) throw badRequest(`aux address ${name}="${value}" is the gateway's address`);
  }
}

/** Not multicast or broadcast (low bit of the first octet) and not all zeros. */
function isUnicastMac(mac: string): boolean {
  const first = parseInt(mac.slice(0, 2), 16);
  return (first & 1) === 0 && mac !== '00:00:00:00:00:00';
}

