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
