import { ADDRESS_SPACE, randomDockerId } from '../helpers/hostile-plugin.js';

/**
 * What the input tests know about each API call: what it does to state (so that a success
 * can be repeated and undone), a valid request to mutate, and which fields it cannot do
 * without. Requests refer to a small valid "world" the tests set up and tear down.
 */
export interface World {
  /** Pool with its gateway, one network on it, one endpoint (not joined). */
  readonly poolId: string;
  readonly networkId: string;
  readonly endpointId: string;
  /** An address of the pool (with prefix) no endpoint has: CreateEndpoint's base request uses it. */
  readonly spareAddress: string;
  /** A usable address of the pool that nothing holds. */
  readonly freeIp: string;
  /** A second pool (with its gateway) with no network: CreateNetwork's base request uses it. */
  readonly pool2Id: string;
  readonly pool2: string;
  readonly gateway2: string;
}

/**
 * static: answers from constants whatever the body; noop: validates and does nothing;
 * create: makes something (a success is repeated, then undone); allocate: hands out a pool or
 * address (a success is given back); release: gives back (a repeat must succeed too);
 * query: reads.
 */
export type Kind = 'static' | 'noop' | 'create' | 'allocate' | 'release' | 'query';

export interface Spec {
  readonly kind: Kind;
  /** A fresh valid request (new random IDs where an ID is created). */
  readonly base?: (w: World) => Record<string, unknown>;
  /** Top-level fields without which the request must fail. */
  readonly required: readonly string[];
  /** The call that undoes a success (create and allocate). */
  readonly undo?: (sent: Record<string, unknown>, reply: Record<string, unknown>) => { path: string; body: unknown } | undefined;
}

export const SANDBOX = '/var/run/docker/netns/0123456789ab';
export const UNALLOCATED_POOL = '10.254.254.0/24';

const ids = (sent: Record<string, unknown>) => ({ NetworkID: sent['NetworkID'], EndpointID: sent['EndpointID'] });

export const SPECS: Readonly<Record<string, Spec>> = {
  '/Plugin.Activate': { kind: 'static', required: [] },
  '/NetworkDriver.GetCapabilities': { kind: 'static', required: [] },
  '/NetworkDriver.CreateNetwork': {
    kind: 'create',
    base: (w) => ({
      NetworkID: randomDockerId(),
      Options: { 'com.docker.network.enable_ipv6': false, 'com.docker.network.generic': {} },
      IPv4Data: [{ AddressSpace: ADDRESS_SPACE, Pool: w.pool2, Gateway: w.gateway2 }],
      IPv6Data: [],
    }),
    required: ['NetworkID', 'IPv4Data'],
    undo: (sent) => ({ path: '/NetworkDriver.DeleteNetwork', body: { NetworkID: sent['NetworkID'] } }),
  },
  '/NetworkDriver.DeleteNetwork': { kind: 'release', base: () => ({ NetworkID: randomDockerId() }), required: ['NetworkID'] },
  '/NetworkDriver.AllocateNetwork': {
    kind: 'noop',
    base: (w) => ({ NetworkID: randomDockerId(), Options: {}, IPv4Data: [{ AddressSpace: ADDRESS_SPACE, Pool: w.pool2, Gateway: w.gateway2 }], IPv6Data: [] }),
    required: ['NetworkID'],
  },
  '/NetworkDriver.FreeNetwork': { kind: 'noop', base: () => ({ NetworkID: randomDockerId() }), required: ['NetworkID'] },
  '/NetworkDriver.CreateEndpoint': {
    kind: 'create',
    base: (w) => ({ NetworkID: w.networkId, EndpointID: randomDockerId(), Interface: { Address: w.spareAddress, AddressIPv6: '', MacAddress: '' }, Options: {} }),
    required: ['NetworkID', 'EndpointID', 'Interface'],
    undo: (sent) => ({ path: '/NetworkDriver.DeleteEndpoint', body: ids(sent) }),
  },
  '/NetworkDriver.EndpointOperInfo': { kind: 'query', base: (w) => ({ NetworkID: w.networkId, EndpointID: w.endpointId }), required: ['NetworkID', 'EndpointID'] },
  '/NetworkDriver.DeleteEndpoint': { kind: 'release', base: (w) => ({ NetworkID: w.networkId, EndpointID: randomDockerId() }), required: ['NetworkID', 'EndpointID'] },
  '/NetworkDriver.Join': {
    kind: 'create',
    base: (w) => ({ NetworkID: w.networkId, EndpointID: w.endpointId, SandboxKey: SANDBOX, Options: {} }),
    required: ['NetworkID', 'EndpointID', 'SandboxKey'],
    undo: (sent) => ({ path: '/NetworkDriver.Leave', body: ids(sent) }),
  },
  '/NetworkDriver.Leave': { kind: 'release', base: (w) => ({ NetworkID: w.networkId, EndpointID: randomDockerId() }), required: ['NetworkID', 'EndpointID'] },
  '/NetworkDriver.DiscoverNew': { kind: 'noop', base: () => ({ DiscoveryType: 1, DiscoveryData: { Address: '198.18.251.9', BindAddress: '198.18.251.9', Self: false } }), required: ['DiscoveryType'] },
  '/NetworkDriver.DiscoverDelete': { kind: 'noop', base: () => ({ DiscoveryType: 1, DiscoveryData: { Address: '198.18.251.9', BindAddress: '198.18.251.9', Self: false } }), required: ['DiscoveryType'] },
  '/NetworkDriver.ProgramExternalConnectivity': {
    kind: 'noop',
    base: (w) => ({ NetworkID: w.networkId, EndpointID: w.endpointId, Options: { 'com.docker.network.portmap': [] } }),
    required: ['NetworkID', 'EndpointID'],
  },
  '/NetworkDriver.RevokeExternalConnectivity': { kind: 'noop', base: (w) => ({ NetworkID: w.networkId, EndpointID: w.endpointId }), required: ['NetworkID', 'EndpointID'] },
  '/IpamDriver.GetCapabilities': { kind: 'static', required: [] },
  '/IpamDriver.GetDefaultAddressSpaces': { kind: 'static', required: [] },
  '/IpamDriver.RequestPool': {
    kind: 'allocate',
    base: () => ({ AddressSpace: ADDRESS_SPACE, Pool: '', SubPool: '', Options: {}, V6: false }),
    required: ['AddressSpace'],
    undo: (_sent, reply) => (typeof reply['PoolID'] === 'string' ? { path: '/IpamDriver.ReleasePool', body: { PoolID: reply['PoolID'] } } : undefined),
  },
  '/IpamDriver.ReleasePool': { kind: 'release', base: () => ({ PoolID: UNALLOCATED_POOL }), required: ['PoolID'] },
  '/IpamDriver.RequestAddress': {
    kind: 'allocate',
    base: (w) => ({ PoolID: w.poolId, Address: '', Options: {} }),
    required: ['PoolID'],
    undo: (sent, reply) =>
      typeof reply['Address'] === 'string' ? { path: '/IpamDriver.ReleaseAddress', body: { PoolID: sent['PoolID'], Address: reply['Address'].split('/')[0] } } : undefined,
  },
  '/IpamDriver.ReleaseAddress': { kind: 'release', base: (w) => ({ PoolID: w.poolId, Address: w.freeIp }), required: ['PoolID', 'Address'] },
};

/** IDs and option-like strings that must never reach a path, a command line or a key unchecked. */
export const HOSTILE_IDS: readonly string[] = [
  '../x', '../../../../etc/passwd', 'a/b', '/', '..', '.', '-o', '--help', '-', '$(x)', '$(touch /tmp/tso-pwned)', '`id`', '; rm -rf /', '|id', '&&id',
  'a b', '*', '%2e%2e%2f', 'a\nb', 'a\u0000b', '\u202e', 'ts0', 'vx-1', 'x'.repeat(10_000), 'f'.repeat(65), 'f'.repeat(11), 'F'.repeat(64),
  `${'a'.repeat(64)}/../x`, `${'a'.repeat(64)}\n`, ` ${'a'.repeat(64)}`, '',
];

/** Strings that are not IPv4 CIDRs (or not the kind the field wants). */
export const INVALID_CIDRS: readonly string[] = [
  '10.77.0.0/33', '10.77.0.0', '10.77.0.0/', '/24', '300.1.1.0/24', '10.77.0.0/-1', '10.77.0.0/24/24', ' 10.77.0.0/24', '10.77.0.0/24\n', '10.77.0.0/2a',
  '0x0a.0.0.0/24', '10.77.0.0.0/24', '10.77/16', '::1/64', 'fe80::/64', 'a.b.c.d/24', '10.77.0.0 /24', '10.77.0.0/024', '-10.77.0.0/24', '10.77.0.0/24,10.78.0.0/24',
];

/** Strings that are not IPv4 addresses. */
export const INVALID_IPS: readonly string[] = ['10.0.0.256', '10.0.0', '10.0.0.1.1', 'a.b.c.d', '::1', '10.0.0.-1', '0x0a000001', '10.0.0.1 ', '1e3.0.0.1', '10..0.1'];

/** Strings that are not MAC addresses. */
export const INVALID_MACS: readonly string[] = [
  'zz:zz:zz:zz:zz:zz', '00:11:22:33:44', '00:11:22:33:44:55:66', '00-11-22-33-44-55', '0011.2233.4455', '001122334455', '00:11:22:33:44:5', '00:11:22:33:44:555', ' 00:11:22:33:44:55', '00:11:22:33:44:55\n',
];

/** Well-formed MACs no unicast interface may have: refused, or accepted and then Join must not leak. */
export const ODD_MACS: readonly string[] = ['ff:ff:ff:ff:ff:ff', '01:00:5e:00:00:01', '00:00:00:00:00:00', '33:33:00:00:00:01'];
