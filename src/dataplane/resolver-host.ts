import { errorMessage } from '../lib/errors.js';
import { hostPortName } from './names.js';
import type { Runner } from './runner.js';

/**
 * The host side of the DNS responder's address (169.254.53.53 by default):
 *
 *  - a device of ours, tso-dns0, holds it as a /32, so the address exists before any
 *    ts-overlay network does and no other interface has to carry it. It is a bridge without
 *    ports rather than a dummy: the dummy driver is a module some kernels lack (the lab's
 *    does), while the bridge driver is there wherever the engine's bridge networks are;
 *  - answers must leave through the asking container's network's host port (dataplane.ts), but
 *    the host must not get routes into the overlays: with `<subnet> dev tsh-<VNI>` in the main table, the host
 *    would route a container's packets from docker_gwbridge (which the engine lets out to
 *    anywhere) into another ts-overlay network. So the per-network routes live in a table of
 *    their own (RESOLVER_TABLE; dataplane.ts adds each with its host port, and it goes with the
 *    port), consulted only for packets from the responder's address (`ip rule from <addr>
 *    lookup RESOLVER_TABLE`). The same rule passes reverse-path checks for the queries;
 *  - an INPUT chain, jumped to for everything arriving on a ts-overlay host port: a container
 *    may reach the host on UDP/TCP 53 of the responder's address and nothing else.
 *
 * Containers reach the address through their own network interface (the route Join returns),
 * and ARP for it is answered by the local host's port: the VXLAN devices run with `proxy`,
 * so ARP requests never cross to another host and each host answers for its own responder.
 */
export const RESOLVER_DEVICE = 'tso-dns0';
export const HOST_CHAIN = 'TS-OVERLAY-HOST';
/** Routing table of the answers' routes, and the priority of the rule that selects it. */
export const RESOLVER_TABLE = 53053;
const RULE_PRIORITY = 5353;
const JUMP = `-i tsh-+ -j ${HOST_CHAIN}`;

const jumpsToHostChain = (rule: string) => rule.endsWith(`-j ${HOST_CHAIN}`);

export function hostChainRules(addr: string): string[] {
  return [
    `-d ${addr}/32 -p udp -m udp --dport 53 -j ACCEPT`,
    `-d ${addr}/32 -p tcp -m tcp --dport 53 -j ACCEPT`,
    '-j DROP',
  ];
}

/** The route that sends answers back through a network's host port (in the responder's table only). */
export function resolverRouteLine(subnet: string, vni: number): string {
  return `route replace ${subnet} dev ${hostPortName(vni)} table ${RESOLVER_TABLE}`;
}

interface RuleJson {
  priority?: number;
  src?: string;
  srclen?: number;
  table?: string;
}

interface AddrJson {
  ifname: string;
  linkinfo?: { info_kind?: string };
  operstate?: string;
  flags?: string[];
  addr_info?: Array<{ family: string; local: string; prefixlen: number }>;
}

export class ResolverHost {
  constructor(private readonly run: Runner) {}

  /** The device with exactly `addr`/32, up, and the INPUT chain; returns the number of changes. */
  async ensure(addr: string): Promise<number> {
    let changes = 0;
    const [dev] = await this.run.ipJson<AddrJson>(['-d', 'addr', 'show', 'dev', RESOLVER_DEVICE]).catch((err: unknown) => {
      if (/does not exist|Cannot find device/.test(errorMessage(err))) return [];
      throw err;
    });
    const lines: string[] = [];
    if (dev && dev.linkinfo?.info_kind !== 'bridge') {
      lines.push(`link del ${RESOLVER_DEVICE}`);
    }
    if (!dev || dev.linkinfo?.info_kind !== 'bridge') {
      lines.push(`link add ${RESOLVER_DEVICE} type bridge`);
    }
    const v4 = dev?.linkinfo?.info_kind === 'bridge' ? (dev.addr_info ?? []).filter((a) => a.family === 'inet') : [];
    for (const a of v4) if (a.local !== addr || a.prefixlen !== 32) lines.push(`addr del ${a.local}/${a.prefixlen} dev ${RESOLVER_DEVICE}`);
    if (!v4.some((a) => a.local === addr && a.prefixlen === 32)) lines.push(`addr add ${addr}/32 dev ${RESOLVER_DEVICE}`);
    if (!dev?.flags?.includes('UP')) lines.push(`link set ${RESOLVER_DEVICE} up`);
    if (lines.length) {
      await this.run.batchStrict('ip', lines);
      changes += lines.length;
    }
    return changes + (await this.ensureRule(addr)) + (await this.ensureChain(addr));
  }

  /** Exactly one rule sends packets from `addr` to the responder's table. */
  private async ensureRule(addr: string): Promise<number> {
    const ours = (await this.run.ipJson<RuleJson>(['rule', 'show'])).filter((r) => r.table === String(RESOLVER_TABLE));
    const wanted = (r: RuleJson) => r.src === addr && (r.srclen ?? 32) === 32 && r.priority === RULE_PRIORITY;
    const lines = ours.filter((r) => !wanted(r)).map((r) => `rule del priority ${r.priority} table ${RESOLVER_TABLE}`);
    if (!ours.some(wanted)) lines.push(`rule add from ${addr} lookup ${RESOLVER_TABLE} priority ${RULE_PRIORITY}`);
    const extra = ours.filter(wanted).length - 1;
    for (let i = 0; i < extra; i++) lines.push(`rule del from ${addr} lookup ${RESOLVER_TABLE} priority ${RULE_PRIORITY}`);
    if (lines.length) await this.run.batchStrict('ip', lines);
    return lines.length;
  }

  /** Device, rule, routes and chain gone: the feature is off. Absent is fine. */
  async remove(): Promise<number> {
    let changes = 0;
    try {
      await this.run.ip(['link', 'del', RESOLVER_DEVICE]);
      changes++;
    } catch (err) {
      if (!/Cannot find device/.test(errorMessage(err))) throw err;
    }
    for (const r of (await this.run.ipJson<RuleJson>(['rule', 'show'])).filter((x) => x.table === String(RESOLVER_TABLE))) {
      await this.run.ip(['rule', 'del', 'priority', String(r.priority), 'table', String(RESOLVER_TABLE)]);
      changes++;
    }
    if ((await this.run.ip(['route', 'show', 'table', String(RESOLVER_TABLE)])).trim()) {
      await this.run.ip(['route', 'flush', 'table', String(RESOLVER_TABLE)]);
      changes++;
    }
    return changes + (await this.run.removeChain(HOST_CHAIN, 'INPUT'));
  }

  /**
   * The chain's rules exactly as wanted (else rebuilt; it is ours alone),
   * then one jump from INPUT, inserted first so that an earlier broad ACCEPT cannot open the host.
   */
  private async ensureChain(addr: string): Promise<number> {
    let changes = 0;
    const wanted = hostChainRules(addr);
    const rules = await this.run.iptablesRules(HOST_CHAIN);
    if (rules === undefined) {
      await this.run.iptablesStrict(['-N', HOST_CHAIN]);
      changes++;
    }
    if (rules === undefined || rules.join('\n') !== wanted.join('\n')) {
      // Rebuilt with no moment open: the wanted rules (ending in DROP) go in ahead of the old
      // ones, which then go from the end. A flush first would let containers reach the whole
      // host until the new DROP was in.
      for (const [i, r] of wanted.entries()) await this.run.iptablesStrict(['-I', HOST_CHAIN, String(i + 1), ...r.split(' ')]);
      for (let k = rules?.length ?? 0; k > 0; k--) await this.run.iptablesStrict(['-D', HOST_CHAIN, String(wanted.length + k)]);
      changes++;
    }
    const toChain = ((await this.run.iptablesRules('INPUT')) ?? []).filter(jumpsToHostChain);
    // A jump that names other devices (earlier builds named the bridges, tsbr+) goes.
    for (const r of toChain.filter((x) => x !== JUMP)) {
      await this.run.iptablesStrict(['-D', 'INPUT', ...r.split(' ')]);
      changes++;
    }
    const jumps = toChain.filter((r) => r === JUMP);
    if (jumps.length === 0) {
      await this.run.iptablesStrict(['-I', 'INPUT', '1', ...JUMP.split(' ')]);
      changes++;
    }
    for (let i = 1; i < jumps.length; i++) {
      await this.run.iptablesStrict(['-D', 'INPUT', ...JUMP.split(' ')]);
      changes++;
    }
    return changes;
  }
}
