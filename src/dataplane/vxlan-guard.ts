import { errorMessage } from '../lib/errors.js';
import type { Logger } from '../lib/logger.js';
import type { Runner } from './runner.js';
import { PassRunner } from '../lib/pass-runner.js';

/**
 * The VXLAN guard: the kernel's VXLAN socket takes any UDP datagram sent to the VXLAN port
 * and delivers the frame inside to the containers of its VNI, so without a filter anyone who can
 * reach the underlay and guess a VNI can put frames on an overlay. This chain accepts VXLAN
 * only from the VTEPs of live cluster nodes and drops the rest:
 *
 *   INPUT:            -p udp -m udp --dport PORT -j TS-OVERLAY-VXLAN   (inserted first)
 *   TS-OVERLAY-VXLAN: -s VTEP/32 -j ACCEPT   (one per live node, this one included)
 *                     -j DROP
 *
 * iptables rather than nftables: it is what the engine and our other chains (resolver-host.ts)
 * already use, so on iptables-nft hosts our rules sit in the same table the operator and the
 * engine list with `iptables -S`, and the managed plugin's rootfs carries only iptables.
 * The jump is inserted at the top of INPUT so that a broad ACCEPT earlier in an operator's
 * INPUT cannot bypass the guard; where it sits after that is left alone (not forced to the
 * top on every pass) so an operator can still put a rule of theirs in front on purpose.
 *
 * Rules are per node, never per endpoint: a container start costs nothing here.
 */
export const GUARD_CHAIN = 'TS-OVERLAY-VXLAN';

const DROP = '-j DROP';
const acceptFrom = (vtep: string) => `-s ${vtep}/32 -j ACCEPT`;

export class VxlanGuard {
  constructor(
    private readonly run: Runner,
    private readonly port: number,
  ) {}

  /**
   * Brings the chain and the jump in line with `vteps` (compare, then fix only what differs:
   * running it twice changes nothing the second time). Returns the number of changes.
   */
  async apply(vteps: Iterable<string>): Promise<number> {
    // Only canonical IPv4 addresses: a record in etcd must not smuggle options into iptables,
    // and iptables prints addresses canonically, which the comparison relies on.
    const allowed = [...new Set(vteps)].filter(isCanonicalIPv4).sort();
    let changes = 0;
    let rules = await this.run.iptablesRules(GUARD_CHAIN);
    if (rules === undefined) {
      await this.run.iptablesStrict(['-N', GUARD_CHAIN]);
      rules = [];
      changes++;
    }
    for (const args of planChain(rules, allowed)) {
      await this.run.iptablesStrict(args);
      changes++;
    }
    // The jump comes last: nothing is sent through the chain before it is complete.
    return changes + (await this.applyJump());
  }

  /** Takes the jump and the chain away (uninstall, or the operator's own firewall). Absent is fine. */
  remove(): Promise<number> {
    return this.run.removeChain(GUARD_CHAIN, 'INPUT');
  }

  /** Exactly one jump, for this port; one left by an earlier run with another port goes. */
  private async applyJump(): Promise<number> {
    const wanted = `-p udp -m udp --dport ${this.port} -j ${GUARD_CHAIN}`;
    const jumps = ((await this.run.iptablesRules('INPUT')) ?? []).filter(isJumpToGuard);
    let changes = 0;
    if (!jumps.includes(wanted)) {
      await this.run.iptablesStrict(['-I', 'INPUT', '1', ...wanted.split(' ')]);
      changes++;
    }
    // Deleting by spec removes the first match; a duplicate of the wanted jump goes too, once.
    const stale = jumps.filter((j, i) => j !== wanted || jumps.indexOf(wanted) !== i);
    for (const spec of stale) {
      await this.run.iptablesStrict(['-D', 'INPUT', ...spec.split(' ')]);
      changes++;
    }
    return changes;
  }
}

function isCanonicalIPv4(text: string): boolean {
  const parts = text.split('.');
  return parts.length === 4 && parts.every((p) => /^\d{1,3}$/.test(p) && String(Number(p)) === p && Number(p) <= 255);
}

const isJumpToGuard = (spec: string) => spec.endsWith(`-j ${GUARD_CHAIN}`);

/**
 * The iptables commands that turn the chain's `rules` into: one ACCEPT per allowed VTEP (any
 * order), then DROP. New ACCEPTs go in before anything is deleted, so a member that stays is
 * never dropped half-way through. Stray rules are deleted by number, bottom up, so that
 * numbers still to be used stay valid; the chain is ours alone, nobody else renumbers it.
 */
export function planChain(rules: readonly string[], allowed: readonly string[]): string[][] {
  const wanted = new Set(allowed.map(acceptFrom));
  const missing = [...wanted].filter((r) => !rules.includes(r));
  // Inserted at the top in reverse, so a chain built from nothing lists the VTEPs in order.
  const inserts = [...missing].reverse().map((r) => ['-I', GUARD_CHAIN, '1', ...r.split(' ')]);
  const after = [...missing, ...rules];

  const seen = new Set<string>();
  const doomed: number[] = []; // 1-based positions in `after`
  after.forEach((rule, i) => {
    const lastDrop = rule === DROP && i === after.length - 1;
    if (lastDrop || (wanted.has(rule) && !seen.has(rule))) seen.add(rule);
    else doomed.push(i + 1);
  });
  const deletes = doomed.reverse().map((n) => ['-D', GUARD_CHAIN, String(n)]);
  const append = after.at(-1) === DROP ? [] : [['-A', GUARD_CHAIN, '-j', 'DROP']];
  return [...inserts, ...deletes, ...append];
}

/**
 * Keeps the guard in line with a changing set of VTEPs: one pass at a time, and a trigger
 * that arrives during a pass runs one more pass after it (the set may have changed meanwhile).
 * A failed pass is logged and left for the next trigger (membership change or periodic).
 */
export class VxlanGuardKeeper {
  private readonly passes = new PassRunner(() => this.pass());
  private lastError: string | undefined;

  constructor(
    private readonly guard: VxlanGuard,
    private readonly vteps: () => Iterable<string>,
    private readonly log: Logger,
  ) {}

  schedule(): void {
    this.passes.schedule();
  }

  /** Runs a pass now (or joins the one running) and resolves when the guard is in line or failed. */
  run(): Promise<void> {
    return this.passes.run();
  }

  /** No more passes; the rules stay in place (a restart must not open the port). */
  stop(): Promise<void> {
    return this.passes.stop();
  }

  private async pass(): Promise<void> {
    const vteps = [...this.vteps()];
    try {
      const changes = await this.guard.apply(vteps);
      if (changes > 0) this.log.info({ changes, vteps }, `VXLAN accepted only from ${vteps.length} node(s)`);
      if (this.lastError) this.log.info('VXLAN guard in line again');
      this.lastError = undefined;
    } catch (err) {
      const message = errorMessage(err);
      // Once per distinct failure: the periodic trigger would otherwise repeat it forever.
      if (message !== this.lastError) this.log.error({ err: message }, 'could not apply the VXLAN guard; retrying on the next change or periodic pass');
      this.lastError = message;
    }
  }
}
