import type { Runner } from './runner.js';

/**
 * Earlier builds joined each network on a Linux bridge in the host's namespace, whose
 * frames the engine's FORWARD policy (DROP, with bridge-nf-call-iptables on) would have dropped:
 * a chain of theirs, jumped to from FORWARD, accepted traffic that stayed on one bridge. The
 * macvlan ports that replaced the bridges never pass FORWARD; the chain is removed where found.
 */
export const LEGACY_CHAIN = 'TS-OVERLAY';

export class LegacyForwardChain {
  constructor(private readonly run: Runner) {}

  /** Jumps and chain gone; returns whether anything was there. */
  async remove(): Promise<boolean> {
    let removed = false;
    // Every jump, also one with matches of its own: the chain cannot go while one is left.
    for (const rule of ((await this.run.iptablesRules('FORWARD')) ?? []).filter((r) => r.endsWith(`-j ${LEGACY_CHAIN}`))) {
      await this.run.iptablesStrict(['-D', 'FORWARD', ...rule.split(' ')]);
      removed = true;
    }
    if ((await this.run.iptablesRules(LEGACY_CHAIN)) !== undefined) {
      await this.run.iptablesStrict(['-F', LEGACY_CHAIN]);
      await this.run.iptablesStrict(['-X', LEGACY_CHAIN]);
      removed = true;
    }
    return removed;
  }
}
