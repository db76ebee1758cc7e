import type { NodeRecord } from '../store/records.js';
import { type CheckResult, fail, pass } from './check.js';

const NAME = 'node record';

/**
 * This node's leased record in etcd, read through the same gRPC client the plugin uses: it
 * exists only while the plugin renews its lease, and its VTEP is where other hosts send
 * this host's VXLAN traffic.
 */
export function checkNodeRecord(nodes: readonly NodeRecord[], self: string, vtep: string | undefined): CheckResult {
  const mine = nodes.find((n) => n.name === self);
  const alive = `${nodes.length} node(s) alive: ${nodes.map((n) => n.name).sort().join(', ') || 'none'}`;
  if (!mine) {
    return fail(NAME, `no record for node ${self} in etcd (${alive})`, `start the plugin on this host (ts-overlay serve), or pass the --node-name it runs with; if it runs, its log says why it cannot renew its lease`);
  }
  if (vtep && mine.vtep !== vtep) {
    return fail(NAME, `node ${self} is registered with VTEP ${mine.vtep}, but this host's advertise address is ${vtep}`, 'run the plugin and the doctor with the same --advertise-addr (another host may be using this node name)');
  }
  return pass(NAME, `${self} registered with VTEP ${mine.vtep}, version ${mine.version}; ${alive}`);
}
