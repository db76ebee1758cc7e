import { addressKey } from '../ipam/cidr.js';
import { KeyedQueue } from '../lib/keyed-queue.js';
import type { EndpointRecord, NetworkRecord } from '../store/records.js';

/** A cluster network as it exists on this host: the engine's ID for it, and its devices. */
export interface LocalNetwork {
  readonly engineId: string;
  readonly record: NetworkRecord;
  readonly mtu: number;
}

/**
 * What this host has built, indexed the ways requests need it. It is a cache: every entry
 * is also in etcd (copies/ and endpoints/), from which a restarted plugin rebuilds it, but for
 * an endpoint between CreateEndpoint and its record's write (driver/pending-publishes.ts).
 */
export class LocalState {
  private readonly byEngineId = new Map<string, LocalNetwork>();
  private readonly endpointsById = new Map<string, EndpointRecord>();
  /**
   * IDs of the endpoints here by subnet and address. ReleaseAddress asks it once per call: a
   * scan of every endpoint made removing N containers cost N^2/2 comparisons.
   */
  private readonly idsByAddress = new Map<string, Set<string>>();

  /**
   * Every change to a network's devices happens under its VNI's lock, whether a request or
   * the reconciler makes it, and the reconciler looks again once it holds the lock: otherwise
   * it could remove, as stray, devices that a CreateNetwork is making right now.
   */
  readonly deviceLocks = new KeyedQueue();

  /** MTU of a network that does not set one: the underlay's minus VXLAN's overhead. */
  constructor(readonly defaultMtu: number) {}

  withDevices<T>(vni: number, task: () => Promise<T>): Promise<T> {
    return this.deviceLocks.run(`vni:${vni}`, task);
  }

  hasVni(vni: number): boolean {
    return this.networks().some((n) => n.record.vni === vni);
  }

  /**
   * Whether a network here other than `engineId` uses the VNI's devices. A VNI freed in the
   * cluster can be taken by a new network before this host's copy of the old one is removed:
   * the new network then uses the devices already there, and removing the old copy must leave
   * them alone.
   */
  vniUsedByAnother(vni: number, engineId: string): boolean {
    return this.networks().some((n) => n.record.vni === vni && n.engineId !== engineId);
  }

  private readonly networkListeners: Array<() => void> = [];

  /** Called after a network is added or removed here (the encrypted tunnel follows them). */
  onNetworksChanged(listener: () => void): void {
    this.networkListeners.push(listener);
  }

  addNetwork(n: LocalNetwork): void {
    const isNew = !this.byEngineId.has(n.engineId);
    this.byEngineId.set(n.engineId, n);
    if (isNew) for (const l of this.networkListeners) l();
  }

  removeNetwork(engineId: string): void {
    if (this.byEngineId.delete(engineId)) for (const l of this.networkListeners) l();
  }

  /**
   * Networks the engine removed here whose removal has not finished: the engine forgets a
   * network even when DeleteNetwork fails (libnetwork logs a remote driver's error and goes on),
   * so nobody would ask again. They are no longer networks of this host (networks() leaves them
   * out, so their VNI's devices are not kept for them), the driver retries what is left, and the
   * reconciler must not build them back from the copy record etcd still holds.
   */
  private readonly beingRemoved = new Map<string, LocalNetwork>();

  /** The network stops being one of this host's, and is remembered until finishRemoval. */
  startRemoval(n: LocalNetwork): void {
    this.beingRemoved.set(n.engineId, n);
    this.removeNetwork(n.engineId);
  }

  finishRemoval(engineId: string): void {
    this.beingRemoved.delete(engineId);
  }

  isBeingRemoved(engineId: string): boolean {
    return this.beingRemoved.has(engineId);
  }

  removalsLeft(): LocalNetwork[] {
    return [...this.beingRemoved.values()];
  }

  network(engineId: string): LocalNetwork | undefined {
    return this.byEngineId.get(engineId);
  }

  networkByClusterId(clusterId: string): LocalNetwork | undefined {
    for (const n of this.byEngineId.values()) if (n.record.id === clusterId) return n;
    return undefined;
  }

  networks(): LocalNetwork[] {
    return [...this.byEngineId.values()];
  }

  addEndpoint(e: EndpointRecord): void {
    this.removeEndpoint(e.id); // a record given again may carry another address
    this.endpointsById.set(e.id, e);
    const key = addressKey(e.subnet, e.ip);
    const ids = this.idsByAddress.get(key);
    if (ids) ids.add(e.id);
    else this.idsByAddress.set(key, new Set([e.id]));
  }

  removeEndpoint(id: string): void {
    const e = this.endpointsById.get(id);
    if (!e) return;
    this.endpointsById.delete(id);
    const key = addressKey(e.subnet, e.ip);
    const ids = this.idsByAddress.get(key);
    ids?.delete(id);
    if (ids?.size === 0) this.idsByAddress.delete(key);
  }

  endpoints(): EndpointRecord[] {
    return [...this.endpointsById.values()];
  }

  endpoint(id: string): EndpointRecord | undefined {
    return this.endpointsById.get(id);
  }

  /** The endpoint here on an address of a subnet, if any (asked once per ReleaseAddress). */
  endpointOn(subnet: string, ip: string): EndpointRecord | undefined {
    for (const id of this.idsByAddress.get(addressKey(subnet, ip)) ?? []) return this.endpointsById.get(id);
    return undefined;
  }
}
