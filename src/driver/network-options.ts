import { TUNNEL_OVERHEAD } from '../dataplane/tunnel-packet.js';
import { badRequest } from '../lib/errors.js';
import type { NetworkRecord } from '../store/records.js';
import { CLUSTER_ID_OPTION } from '../ipam/ipam-service.js';

/** The `-o key=value` options ts-overlay understands on `docker network create`. */
export const NETWORK_OPTIONS = {
  vni: 'VXLAN network identifier to use (must be free and inside --vni-range)',
  mtu: `MTU of the containers' interfaces (default: underlay MTU - 50, or - ${50 + TUNNEL_OVERHEAD} when encrypted)`,
  'com.docker.network.driver.mtu': 'same as mtu (Docker\'s generic name)',
  encrypted: 'true: traffic between hosts is encrypted (AES-256-GCM, keys in etcd, rotated); --opt encrypted alone means true',
  [CLUSTER_ID_OPTION]: 'set by ts-overlay on the copies of a network it creates on other hosts',
} as const;

export interface NetworkOptions {
  readonly vni?: number;
  readonly mtu?: number;
  readonly clusterId?: string;
  readonly encrypted?: boolean;
}

/** Validates the generic options; unknown keys are refused so that a typo is not ignored. */
export function parseNetworkOptions(options: Readonly<Record<string, unknown>>): NetworkOptions {
  const out: { vni?: number; mtu?: number; clusterId?: string; encrypted?: boolean } = {};
  for (const [key, raw] of Object.entries(options)) {
    // Own keys only: "constructor" or "toString" are in every object, not in our list.
    if (!Object.hasOwn(NETWORK_OPTIONS, key)) {
      throw badRequest(`unknown option "${key}"; ts-overlay understands: ${Object.keys(NETWORK_OPTIONS).filter((k) => k !== CLUSTER_ID_OPTION).join(', ')}`);
    }
    if (typeof raw !== 'string' && typeof raw !== 'number' && typeof raw !== 'boolean') {
      throw badRequest(`option ${key} must be a plain value such as -o ${key}=1400, not ${raw === null ? 'null' : Array.isArray(raw) ? 'a list' : typeof raw}`);
    }
    const value = String(raw);
    if (key === 'vni') out.vni = integer('vni', value, 1, 16777215);
    else if (key === 'mtu' || key === 'com.docker.network.driver.mtu') out.mtu = integer(key, value, 576, 65535);
    else if (key === 'encrypted') {
      // Docker's own overlay takes `--opt encrypted` with no value; ours does too.
      if (!['', 'true', 'false'].includes(value)) throw badRequest(`option encrypted="${value}" must be true, false or empty (--opt encrypted)`);
      out.encrypted = value !== 'false';
    } else if (key === CLUSTER_ID_OPTION) {
      if (!/^[0-9a-f]{12,64}$/.test(value)) throw badRequest(`option ${CLUSTER_ID_OPTION}="${value}" is not a network ID`);
      out.clusterId = value;
    }
  }
  return out;
}

function integer(key: string, value: string, min: number, max: number): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < min || n > max) throw badRequest(`option ${key}="${value}" must be an integer from ${min} to ${max}`);
  return n;
}

/** The options to store and replay on other hosts: the user's, without our marker. */
export function userOptions(options: Readonly<Record<string, unknown>>): Record<string, string> {
  return Object.fromEntries(Object.entries(options).filter(([k]) => k !== CLUSTER_ID_OPTION).map(([k, v]) => [k, String(v)]));
}

/**
 * MTU of a network that does not set one: the host's default (underlay minus VXLAN), minus
 * the tunnel's header and tag when its traffic is encrypted, so that a full-size frame still
 * fits one underlay packet.
 */
export function networkMtu(record: Pick<NetworkRecord, 'encrypted'>, defaultMtu: number): number {
  return record.encrypted ? defaultMtu - TUNNEL_OVERHEAD : defaultMtu;
}
