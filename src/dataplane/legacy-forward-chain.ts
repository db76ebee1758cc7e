import type { Runner } from './runner.js';

/**
 * Earlier builds joined each network on a Linux bridge in the host's namespace, whose
 * frames the engine's FORWARD policy (DROP, with bridge-nf-call-iptables on) would have dropped:
 * a chain of theirs, jumped to from FORWARD, accepted traffic that stayed on one bridge. The
 * macvlan ports that replaced the bridges never pass FORWARD; the chain is removed where found.
 */
export const LEGACY_CHAIN = 'TS-OVERLAY';

/** Jumps and chain gone; returns whether anything was there. */
export async function removeLegacyForwardChain(run: Runner): Promise<boolean> {
  return (await run.removeChain(LEGACY_CHAIN, 'FORWARD')) > 0;
}
