import { createHash } from 'node:crypto';

/**
 * Kernel device names, derived from cluster identities so that a restarted plugin (or an
 * operator) can tell which devices are ours and what they belong to. Linux allows 15 bytes.
 */
export const DEVICE_PREFIX = 'ts';

export const bridgeName = (vni: number) => `tsbr-${vni}`; // at most 13 bytes (VNI < 2^24)
export const vxlanName = (vni: number) => `tsvx-${vni}`;
/** Host end of an endpoint's veth pair, on the bridge. */
export const hostVethName = (endpointId: string) => `tsv-${endpointId.slice(0, 11)}`;
/** Container end, which the engine moves into the container and renames eth0, eth1, ... */
export const containerVethName = (endpointId: string) => `tsc-${endpointId.slice(0, 11)}`;

export function vniOfDevice(name: string): number | undefined {
  const m = /^ts(?:br|vx)-(\d+)$/.exec(name);
  return m ? Number(m[1]) : undefined;
}

/**
 * The bridge's own MAC, fixed. A bridge otherwise takes the lowest MAC among its ports and
 * changes it when that port goes: a container that had resolved the DNS responder's address to
 * the old MAC (the host answers ARP for it on the bridge) would send its queries into the void
 * until its neighbour entry expires. Derived from this host's VTEP and the VNI: the same after a
 * restart, different on every host; 06: is locally administered, outside containers' 02:42:.
 */
export function bridgeMac(vtep: string, vni: number): string {
  const bytes = createHash('sha256').update(`${vtep}/${vni}`).digest().subarray(0, 5);
  return ['06', ...[...bytes].map((b) => b.toString(16).padStart(2, '0'))].join(':');
}
