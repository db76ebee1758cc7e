import { createHash, randomUUID } from 'node:crypto';

/**
 * Kernel device names, derived from cluster identities so that a restarted plugin (or an
 * operator) can tell which devices are ours and what they belong to. Linux allows 15 bytes.
 */
export const DEVICE_PREFIX = 'ts';

export const vxlanName = (vni: number) => `tsvx-${vni}`; // at most 13 bytes (VNI < 2^24)
/** The host's own port on a network, a macvlan on its VXLAN device: the DNS responder answers there. */
export const hostPortName = (vni: number) => `tsh-${vni}`;
/** An endpoint's interface, a macvlan on the VXLAN device, which the engine moves into the container and renames eth0, eth1, ... */
export const endpointPortName = (endpointId: string) => `tsc-${endpointId.slice(0, 11)}`;

/**
 * A spare endpoint interface (spare-ports.ts): made before any endpoint asks for it, so its name
 * cannot come from one. Random, so that no two processes ever pick the same one: 11 hex digits of
 * a version-4 UUID, all random (its version digit is the 13th). Not randomBytes: node draws
 * UUIDs from a cached block of the system's randomness, where randomBytes(6) asked the generator
 * each time, about 1 % of a plugin's main thread while spares were made at 500 endpoints a second.
 */
export function sparePortName(): string {
  const uuid = randomUUID(); // xxxxxxxx-xxxx-4xxx-...
  return `tsp-${uuid.slice(0, 8)}${uuid.slice(9, 12)}`;
}
export const isSparePortName = (name: string) => /^tsp-[0-9a-f]{11}$/.test(name);

export function vniOfDevice(name: string): number | undefined {
  const m = /^ts(?:h|vx)-(\d+)$/.exec(name);
  return m ? Number(m[1]) : undefined;
}

/**
 * Devices of earlier builds, which joined each network's VXLAN device and its containers'
 * veth pairs on a bridge (tsbr-<VNI>, tsv-<endpoint>): a reconcile removes them wherever found.
 */
export const isLegacyDevice = (name: string) => /^tsbr-\d+$/.test(name) || name.startsWith('tsv-');

/**
 * The host port's MAC, fixed: a container that resolved the DNS responder's address to it (the
 * host answers ARP for it on the host port) keeps reaching the responder after the port is made
 * again. Derived from this host's VTEP and the VNI: the same after a restart, different on every
 * host (ARP never crosses hosts: the VXLAN devices answer it from their neighbour tables); 06: is
 * locally administered, outside containers' 02:42:.
 */
export function hostPortMac(vtep: string, vni: number): string {
  const bytes = createHash('sha256').update(`${vtep}/${vni}`).digest().subarray(0, 5);
  return ['06', ...[...bytes].map((b) => b.toString(16).padStart(2, '0'))].join(':');
}
