/**
 * The records ts-overlay keeps in etcd, as JSON. They are the cluster's single source of truth:
 * every host derives its kernel state and its engine's networks from them.
 */

/** A subnet handed out by the IPAM driver, shared by every host that holds the network. */
export interface PoolRecord {
  readonly subnet: string; // "10.0.0.0/24"
  readonly ipRange?: string; // --ip-range, inside subnet
  /** Nodes whose engine holds the pool (RequestPool without ReleasePool yet). */
  readonly users: readonly string[];
  readonly createdBy: string;
  readonly createdAt: string;
  /**
   * Tells this pool from earlier and later pools of the same subnet; part of the PoolID given to
   * Docker (see ipam/pool-id.ts). Absent on pools made before generations.
   */
  readonly generation?: string;
  /**
   * The cluster network using the pool, bound by CreateNetwork on the creating host. A host's
   * copy joins only its own network's pool: between a removal's ReleasePool and its
   * DeleteNetwork, the subnet may already be a newer network's.
   */
  readonly network?: string;
}

export type AddressKind = 'gateway' | 'aux' | 'endpoint';

/** One claimed address. gateway and aux are shared by all hosts and live as long as the pool. */
export interface AddressRecord {
  readonly ip: string;
  readonly kind: AddressKind;
  readonly node: string;
  /** When it was claimed: an endpoint address with no endpoint long after this is a leak. */
  readonly claimedAt: string;
}

/** A ts-overlay network as the cluster knows it. `id` is the NetworkID on the host that created it. */
export interface NetworkRecord {
  readonly id: string;
  /** Set once the creating engine has reported the name (its network event). */
  readonly name?: string;
  readonly vni: number;
  readonly subnet: string;
  readonly gateway: string; // "10.0.0.1/24"
  readonly ipRange?: string;
  readonly auxAddresses: Readonly<Record<string, string>>;
  /** The -o options the user gave (com.docker.network.generic), to re-create it elsewhere. */
  readonly options: Readonly<Record<string, string>>;
  readonly internal: boolean;
  readonly attachable: boolean;
  readonly labels: Readonly<Record<string, string>>;
  /**
   * MTU of the containers' interfaces on every host: -o mtu, or the smallest underlay MTU among
   * the live nodes minus 50 when the network was created. Absent in records written before it
   * was recorded: then each host uses its own underlay MTU minus 50.
   */
  readonly mtu?: number;
  /** -o encrypted: VXLAN between hosts goes through the encrypted tunnel (every host applies it). */
  readonly encrypted?: boolean;
  readonly createdBy: string;
  readonly createdAt: string;
}

/** A container's interface on a network, on some host. */
export interface EndpointRecord {
  readonly id: string;
  readonly network: string; // cluster network id
  readonly node: string;
  readonly vtep: string; // the node's underlay IPv4
  readonly mac: string;
  readonly ip: string; // IPv4 without prefix
  readonly subnet: string; // the pool its address belongs to
  readonly createdAt: string;
}

/**
 * What a container on a network is called there: its name, network aliases and short ID, all
 * lower case, for the DNS responder. Kept under the same network and endpoint ID as its
 * EndpointRecord and deleted with it, so a name never outlives its address.
 */
export interface NameRecord {
  readonly endpoint: string;
  readonly network: string; // cluster network id
  readonly container: string; // full container ID
  /** The container's name first (the answer to a reverse lookup), then aliases and short ID. */
  readonly names: readonly string[];
  readonly ip: string;
  readonly node: string;
}

/** A host running ts-overlay. Written under a lease: it vanishes when the node stops renewing. */
export interface NodeRecord {
  readonly name: string;
  readonly vtep: string;
  /** MTU of the interface holding vtep, so a network's creator can pick an MTU every host carries. */
  readonly underlayMtu?: number;
  readonly version: string;
  readonly startedAt: string;
}

/** Which engine network on a node is the local copy of a cluster network. */
export interface CopyRecord {
  readonly network: string; // cluster network id
  readonly node: string;
  readonly engineNetworkId: string;
}

/** One cluster encryption key. A secret: whoever reads it can read encrypted networks' traffic. */
export interface ClusterKey {
  readonly id: number;
  readonly secret: string; // 32 random bytes, base64
  readonly addedAt: string;
}

/** The cluster's encryption keys (driver/key-schedule.ts says how they rotate). */
export interface KeySetRecord {
  readonly keys: readonly ClusterKey[];
  /** The key senders seal with; every key in `keys` opens. */
  readonly primary: number;
  readonly primarySince: string;
}
