import { ADDRESS_SPACE, type NetworkDriver } from '../driver/network-driver.js';
import { CLUSTER_ID_OPTION, type ClusterNetworkRef, type IpamService } from '../ipam/ipam-service.js';
import { badRequest, notFound } from '../lib/errors.js';
import type { Route } from './server.js';
import * as wire from './wire.js';

export interface RouteDeps {
  readonly driver: NetworkDriver;
  readonly ipam: IpamService;
  /** A cluster network, for RequestPool of a host's copy of it. */
  readonly clusterNetwork: (clusterId: string) => Promise<ClusterNetworkRef | undefined>;
}

/** Every call of the remote NetworkDriver and IpamDriver APIs, mapped onto the driver and IPAM. */
export function apiRoutes({ driver, ipam, clusterNetwork }: RouteDeps): Route[] {
  return [
    { path: '/Plugin.Activate', static: true, handle: () => ({ Implements: ['NetworkDriver', 'IpamDriver'] }) },

    // ---- NetworkDriver ----
    // Scope local: each engine keeps its own network objects (ts-overlay copies them across
    // hosts itself); ConnectivityScope global: containers on every host share the segment.
    { path: '/NetworkDriver.GetCapabilities', static: true, handle: () => ({ Scope: 'local', ConnectivityScope: 'global' }) },
    {
      path: '/NetworkDriver.CreateNetwork',
      schema: wire.CreateNetworkRequest,
      handle: async (req: wire.CreateNetworkRequest) => {
        const generic = req.Options?.[wire.GENERIC_OPTIONS];
        if (generic !== undefined && generic !== null && (typeof generic !== 'object' || Array.isArray(generic))) {
          throw badRequest(`${wire.GENERIC_OPTIONS} must be an object of options`);
        }
        await driver.createNetwork({
          networkId: req.NetworkID,
          genericOptions: (generic ?? {}) as Record<string, unknown>,
          ipv4: (req.IPv4Data ?? []).map((d) => ({ addressSpace: d.AddressSpace, pool: d.Pool, gateway: d.Gateway ?? '', auxAddresses: d.AuxAddresses ?? {} })),
          ipv6Count: req.IPv6Data?.length ?? 0,
        });
        return {};
      },
    },
    { path: '/NetworkDriver.DeleteNetwork', schema: wire.NetworkIdRequest, handle: async (req: { NetworkID: string }) => (await driver.deleteNetwork(req.NetworkID), {}) },
    // Allocate/FreeNetwork are sent by swarm managers only; nothing to allocate centrally.
    { path: '/NetworkDriver.AllocateNetwork', schema: wire.AllocateNetworkRequest, handle: () => ({ Options: {} }) },
    { path: '/NetworkDriver.FreeNetwork', schema: wire.NetworkIdRequest, handle: () => ({}) },
    {
      path: '/NetworkDriver.CreateEndpoint',
      schema: wire.CreateEndpointRequest,
      handle: async (req: wire.CreateEndpointRequest) => {
        const iface = req.Interface ?? {};
        if (!iface.Address) throw badRequest('CreateEndpoint needs Interface.Address: ts-overlay endpoints get their address from ts-overlay IPAM');
        const { macAddress } = await driver.createEndpoint({
          networkId: req.NetworkID,
          endpointId: req.EndpointID,
          address: iface.Address,
          addressIPv6: iface.AddressIPv6 ?? '',
          macAddress: iface.MacAddress ?? '',
        });
        return { Interface: macAddress ? { MacAddress: macAddress } : {} };
      },
    },
    {
      path: '/NetworkDriver.EndpointOperInfo',
      schema: wire.EndpointRequest,
      handle: (req: { NetworkID: string; EndpointID: string }) => ({ Value: driver.endpointInfo(req.NetworkID, req.EndpointID) }),
    },
    { path: '/NetworkDriver.DeleteEndpoint', schema: wire.EndpointRequest, handle: async (req: { NetworkID: string; EndpointID: string }) => (await driver.deleteEndpoint(req.NetworkID, req.EndpointID), {}) },
    {
      path: '/NetworkDriver.Join',
      schema: wire.JoinRequest,
      handle: async (req: wire.JoinRequest) => {
        const { srcName, resolverRoute } = await driver.join(req.NetworkID, req.EndpointID, req.SandboxKey);
        // No Gateway: the engine then gives the container docker_gwbridge (eth1) for the
        // outside world, as Docker's overlay does, unless the network is --internal.
        // The responder's route has no next hop (RouteType 1, connected): it is bound to this
        // interface, so the server is reachable inside the container's own network, which
        // the engine's embedded resolver needs on --internal networks since Docker 26.1.
        return {
          InterfaceName: { SrcName: srcName, DstPrefix: 'eth' },
          DisableGatewayService: false,
          ...(resolverRoute ? { StaticRoutes: [{ Destination: resolverRoute, RouteType: 1 }] } : {}),
        };
      },
    },
    { path: '/NetworkDriver.Leave', schema: wire.EndpointRequest, handle: async (req: { NetworkID: string; EndpointID: string }) => (await driver.leave(req.NetworkID, req.EndpointID), {}) },
    // Node discovery comes from etcd, not from the engine.
    { path: '/NetworkDriver.DiscoverNew', schema: wire.DiscoveryRequest, handle: () => ({}) },
    { path: '/NetworkDriver.DiscoverDelete', schema: wire.DiscoveryRequest, handle: () => ({}) },
    // Port publishing is docker_gwbridge's business: nothing to program here.
    { path: '/NetworkDriver.ProgramExternalConnectivity', schema: wire.ExternalConnectivityRequest, handle: () => ({}) },
    { path: '/NetworkDriver.RevokeExternalConnectivity', schema: wire.EndpointRequest, handle: () => ({}) },

    // ---- IpamDriver ----
    // MACs are derived from addresses (02:42 + IPv4), as Docker's overlay does; no replay
    // needed because the allocations live in etcd, not in the plugin.
    { path: '/IpamDriver.GetCapabilities', static: true, handle: () => ({ RequiresMACAddress: false, RequiresRequestReplay: false }) },
    { path: '/IpamDriver.GetDefaultAddressSpaces', static: true, handle: () => ({ LocalDefaultAddressSpace: ADDRESS_SPACE, GlobalDefaultAddressSpace: ADDRESS_SPACE }) },
    {
      path: '/IpamDriver.RequestPool',
      schema: wire.RequestPoolRequest,
      handle: async (req: wire.RequestPoolRequest) => {
        if (req.V6) throw badRequest('ts-overlay does not support IPv6 pools yet');
        if (req.AddressSpace !== ADDRESS_SPACE) throw badRequest(`unknown address space "${req.AddressSpace}"; ts-overlay serves "${ADDRESS_SPACE}"`);
        const clusterId = req.Options?.[CLUSTER_ID_OPTION];
        let copyOf: ClusterNetworkRef | undefined;
        if (clusterId) {
          copyOf = await clusterNetwork(clusterId);
          if (!copyOf) throw notFound(`cluster network ${clusterId} does not exist`);
          if (req.Pool && req.Pool !== copyOf.subnet) throw badRequest(`cluster network ${clusterId} has subnet ${copyOf.subnet}, not ${req.Pool}`);
        }
        const unknown = Object.keys(req.Options ?? {}).filter((k) => k !== CLUSTER_ID_OPTION);
        if (unknown.length > 0) throw badRequest(`unknown IPAM option(s) ${unknown.join(', ')}`);
        const pool = await ipam.requestPool({
          ...(req.Pool ? { pool: req.Pool } : {}),
          ...(req.SubPool ? { subPool: req.SubPool } : {}),
          ...(copyOf ? { clusterNetwork: copyOf } : {}),
        });
        return { PoolID: pool.poolId, Pool: pool.subnet, Data: {} };
      },
    },
    { path: '/IpamDriver.ReleasePool', schema: wire.ReleasePoolRequest, handle: async (req: { PoolID: string }) => (await ipam.releasePool(req.PoolID), {}) },
    {
      path: '/IpamDriver.RequestAddress',
      schema: wire.RequestAddressRequest,
      handle: async (req: wire.RequestAddressRequest) => {
        const isGateway = req.Options?.[wire.REQUEST_ADDRESS_TYPE] === wire.GATEWAY_REQUEST;
        const address = await ipam.requestAddress({
          poolId: req.PoolID,
          ...(req.Address ? { address: req.Address } : {}),
          kind: isGateway ? 'gateway' : 'endpoint',
        });
        return { Address: address, Data: {} };
      },
    },
    { path: '/IpamDriver.ReleaseAddress', schema: wire.ReleaseAddressRequest, handle: async (req: { PoolID: string; Address: string }) => (await ipam.releaseAddress(req.PoolID, req.Address), {}) },
  ];
}
