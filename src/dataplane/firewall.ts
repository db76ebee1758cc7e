import { internal } from '../lib/errors.js';
import type { Runner } from './runner.js';

/**
 * The engine turns on bridge-nf-call-iptables and sets FORWARD's policy to DROP, so frames
 * bridged between a container's veth and the VXLAN device would be dropped. One chain of ours,
 * jumped to from FORWARD, accepts traffic that stays on one ts-overlay bridge; nothing is
 * accepted between two bridges, which keeps networks isolated. Appending (not inserting) the
 * jump keeps DOCKER-USER first, so an operator's own rules still apply.
 */
export const CHAIN = 'TS-OVERLAY';

/** The rule that lets traffic stay on one bridge; allowedBridges reads it back as `iptables -S` prints it. */
const bridgeRule = (bridge: string) => ['-i', bridge, '-o', bridge, '-j', 'ACCEPT'];

export class Firewall {
  constructor(private readonly run: Runner) {}

  async allowBridge(bridge: string): Promise<void> {
    await this.ensureChain();
    const rule = bridgeRule(bridge);
    if (!(await this.run.iptables(['-C', CHAIN, ...rule])).ok) await this.run.iptablesStrict(['-A', CHAIN, ...rule]);
  }

  async forgetBridge(bridge: string): Promise<void> {
    const rule = bridgeRule(bridge);
    while ((await this.run.iptables(['-C', CHAIN, ...rule])).ok) await this.run.iptablesStrict(['-D', CHAIN, ...rule]);
  }

  /** The bridges the chain lets traffic through, as its rules name them. */
  async allowedBridges(): Promise<string[]> {
    const rules = (await this.run.iptablesRules(CHAIN)) ?? [];
    return rules.flatMap((r) => {
      const m = /^-i (\S+) -o (\S+) -j ACCEPT$/.exec(r);
      return m && m[1] === m[2] ? [m[1]!] : [];
    });
  }

  private async ensureChain(): Promise<void> {
    if (!(await this.run.iptables(['-L', CHAIN, '-n'])).ok) {
      const created = await this.run.iptables(['-N', CHAIN]);
      if (!created.ok && !/exists/i.test(created.stderr)) throw internal(`iptables -N ${CHAIN}: ${created.stderr}`);
    }
    if (!(await this.run.iptables(['-C', 'FORWARD', '-j', CHAIN])).ok) await this.run.iptablesStrict(['-A', 'FORWARD', '-j', CHAIN]);
  }

}
