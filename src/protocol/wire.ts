import { type Static, type TSchema, Type } from '@sinclair/typebox';

/**
 * The libnetwork remote API on the wire (moby's drivers/remote/api/api.go and
 * ipams/remote/api/api.go), as schemas. Field names are Docker's. Extra fields are allowed
 * (newer engines add some); maps may arrive as null (Go encodes a nil map so).
 */
const Id = Type.String({ pattern: '^[0-9a-f]{12,64}$', description: 'a Docker object ID (hex)' });
const Nullable = <T extends TSchema>(t: T) => Type.Union([t, Type.Null()]);
const StringMap = Nullable(Type.Record(Type.String(), Type.String()));
const AnyMap = Nullable(Type.Record(Type.String(), Type.Unknown()));
const CidrOrEmpty = Type.String({ pattern: '^$|^[0-9.]+/[0-9]{1,2}$', description: 'an IPv4 address with prefix, such as 10.0.0.2/24' });
const IPv6OrEmpty = Type.String({ maxLength: 64 });
const MacOrEmpty = Type.String({ pattern: '^$|^([0-9a-fA-F]{2}:){5}[0-9a-fA-F]{2}$', description: 'a MAC address' });

const IPAMData = Type.Object({
  AddressSpace: Type.String({ maxLength: 256 }),
  Pool: Type.String({ maxLength: 64 }),
  Gateway: Type.Optional(Type.String({ maxLength: 64 })),
  AuxAddresses: Type.Optional(StringMap),
});

// ---- NetworkDriver ---------------------------------------------------------------------
/** Creates a network on this host (NetworkID is this engine's ID for it). */
export const CreateNetworkRequest = Type.Object({
  NetworkID: Id,
  Options: Type.Optional(AnyMap),
  IPv4Data: Type.Optional(Nullable(Type.Array(IPAMData, { maxItems: 16 }))),
  IPv6Data: Type.Optional(Nullable(Type.Array(IPAMData, { maxItems: 16 }))),
});
/** Swarm only: network resources allocated by the manager. */
export const AllocateNetworkRequest = CreateNetworkRequest;
export const NetworkIdRequest = Type.Object({ NetworkID: Id });
export const EndpointInterface = Type.Object({
  Address: Type.Optional(CidrOrEmpty),
  AddressIPv6: Type.Optional(IPv6OrEmpty),
  MacAddress: Type.Optional(MacOrEmpty),
});
export const CreateEndpointRequest = Type.Object({
  NetworkID: Id,
  EndpointID: Id,
  Interface: Type.Optional(Nullable(EndpointInterface)),
  Options: Type.Optional(AnyMap),
});
export const EndpointRequest = Type.Object({ NetworkID: Id, EndpointID: Id });
export const JoinRequest = Type.Object({
  NetworkID: Id,
  EndpointID: Id,
  SandboxKey: Type.String({ maxLength: 4096 }),
  Options: Type.Optional(AnyMap),
});
export const ExternalConnectivityRequest = Type.Object({ NetworkID: Id, EndpointID: Id, Options: Type.Optional(AnyMap) });
export const DiscoveryRequest = Type.Object({ DiscoveryType: Type.Integer(), DiscoveryData: Type.Optional(Type.Unknown()) });

// ---- IpamDriver ------------------------------------------------------------------------
export const RequestPoolRequest = Type.Object({
  AddressSpace: Type.String({ maxLength: 256 }),
  Pool: Type.Optional(Type.String({ maxLength: 64 })),
  SubPool: Type.Optional(Type.String({ maxLength: 64 })),
  Options: Type.Optional(StringMap),
  V6: Type.Optional(Type.Boolean()),
});
export const ReleasePoolRequest = Type.Object({ PoolID: Type.String({ minLength: 1, maxLength: 64 }) });
export const RequestAddressRequest = Type.Object({
  PoolID: Type.String({ minLength: 1, maxLength: 64 }),
  Address: Type.Optional(Type.String({ maxLength: 64 })),
  Options: Type.Optional(StringMap),
});
export const ReleaseAddressRequest = Type.Object({
  PoolID: Type.String({ minLength: 1, maxLength: 64 }),
  Address: Type.String({ minLength: 1, maxLength: 64 }),
});

export type CreateNetworkRequest = Static<typeof CreateNetworkRequest>;
export type CreateEndpointRequest = Static<typeof CreateEndpointRequest>;
export type JoinRequest = Static<typeof JoinRequest>;
export type RequestPoolRequest = Static<typeof RequestPoolRequest>;
export type RequestAddressRequest = Static<typeof RequestAddressRequest>;

/** The RequestAddress option that marks the gateway's address. */
export const GATEWAY_REQUEST = 'com.docker.network.gateway';
export const REQUEST_ADDRESS_TYPE = 'RequestAddressType';
/** CreateNetwork's Options key for the -o options. */
export const GENERIC_OPTIONS = 'com.docker.network.generic';
