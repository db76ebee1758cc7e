/**
 * The whole etcd key layout, relative to the client's namespace (default "/ts-overlay/").
 * CIDRs appear in keys with "/" replaced by "_" so that prefix scans stay exact.
 *
 *   pools/<subnet>                    PoolRecord
 *   pools-guard                       bumped by every pool write: serializes overlap checks
 *   addresses/<subnet>/<ip>           AddressRecord
 *   networks/<id>                     NetworkRecord
 *   vnis/<vni>                        network id (uniqueness of VNIs)
 *   copies/<node>/<engineNetworkId>   CopyRecord
 *   endpoints/<network>/<endpoint>    EndpointRecord
 *   names/<network>/<endpoint>        NameRecord (the container's names on that network)
 *   nodes/<name>                      NodeRecord (leased)
 *   encryption/keys                   KeySetRecord (secret: the keys of encrypted networks)
 */
const cidrKey = (cidr: string) => cidr.replace('/', '_');

export const keys = {
  poolsPrefix: 'pools/',
  pool: (subnet: string) => `pools/${cidrKey(subnet)}`,
  poolsGuard: 'pools-guard',
  allAddressesPrefix: 'addresses/',
  addressesPrefix: (subnet: string) => `addresses/${cidrKey(subnet)}/`,
  address: (subnet: string, ip: string) => `addresses/${cidrKey(subnet)}/${ip}`,
  networksPrefix: 'networks/',
  network: (id: string) => `networks/${id}`,
  vnisPrefix: 'vnis/',
  vni: (vni: number) => `vnis/${vni}`,
  copiesPrefix: (node: string) => `copies/${node}/`,
  copy: (node: string, engineNetworkId: string) => `copies/${node}/${engineNetworkId}`,
  allCopiesPrefix: 'copies/',
  endpointsPrefix: 'endpoints/',
  networkEndpointsPrefix: (network: string) => `endpoints/${network}/`,
  endpoint: (network: string, endpoint: string) => `endpoints/${network}/${endpoint}`,
  namesPrefix: 'names/',
  networkNamesPrefix: (network: string) => `names/${network}/`,
  name: (network: string, endpoint: string) => `names/${network}/${endpoint}`,
  nodesPrefix: 'nodes/',
  node: (name: string) => `nodes/${name}`,
  encryptionPrefix: 'encryption/',
  encryptionKeys: 'encryption/keys',
} as const;

/** The last path segment of a key: the VNI, IP or ID it names. */
export function lastSegment(key: string): string {
  return key.slice(key.lastIndexOf('/') + 1);
}

/** The subnet a pool key names ("pools/10.0.0.0_24"). */
export function parsePoolKey(key: string): string | undefined {
  const m = /pools\/([0-9.]+)_(\d+)$/.exec(key);
  return m ? `${m[1]}/${m[2]}` : undefined;
}

/** The subnet and IP an address key names ("addresses/10.0.0.0_24/10.0.0.2"). */
export function parseAddressKey(key: string): { subnet: string; ip: string } | undefined {
  const m = /addresses\/([0-9.]+)_(\d+)\/([0-9.]+)$/.exec(key);
  return m ? { subnet: `${m[1]}/${m[2]}`, ip: m[3]! } : undefined;
}
