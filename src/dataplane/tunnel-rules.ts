import type { Runner } from './runner.js';

/**
 * The iptables rules around the encrypted tunnel (crypto-tunnel-process.ts). VXLAN devices of
 * encrypted networks send to PEER:innerPort and listen on innerPort; these rules make sure
 * that plaintext of those networks never crosses the underlay in either direction:
 *
 *   nat OUTPUT:       -p udp --dport INNER -j TS-OVERLAY-ENC
 *   TS-OVERLAY-ENC:   -d PEER/32 -p udp --dport INNER -j DNAT --to-destination 127.0.0.1:RELAY
 *                     (one per peer: the tunnel process's loopback socket for that peer seals it)
 *   filter OUTPUT:    ! -o lo -p udp --dport INNER -j DROP   (fail closed: a datagram for a peer
 *                     without a relay rule, or while the rules are being made, never leaves)
 *   filter INPUT:     ! -i lo -p udp --dport INNER -j DROP   (only the tunnel process, on
 *                     loopback, may hand frames to these devices: no plaintext injection and
 *                     no downgrade by a peer sending unencrypted VXLAN for an encrypted VNI)
 *
 * Each pass compares with what `iptables -S` shows and changes only the difference.
 */
export const TUNNEL_CHAIN = 'TS-OVERLAY-ENC';

export class TunnelRules {
  constructor(
    private readonly run: Runner,
    private readonly innerPort: number,
  ) {}

  private get dropIn(): string[] {
    return ['!', '-i', 'lo', '-p', 'udp', '-m', 'udp', '--dport', String(this.innerPort), '-j', 'DROP'];
  }

  private get dropOut(): string[] {
    return ['!', '-o', 'lo', '-p', 'udp', '-m', 'udp', '--dport', String(this.innerPort), '-j', 'DROP'];
  }

  private get jump(): string[] {
    return ['-p', 'udp', '-m', 'udp', '--dport', String(this.innerPort), '-j', TUNNEL_CHAIN];
  }

  private relayRule(peer: string, port: number): string[] {
    return ['-d', `${peer}/32`, '-p', 'udp', '-m', 'udp', '--dport', String(this.innerPort), '-j', 'DNAT', '--to-destination', `127.0.0.1:${port}`];
  }

  /** The two drops alone: in place before an encrypted network's VXLAN device exists. */
  async ensureDrops(): Promise<number> {
    return (await this.ensure('filter', 'OUTPUT', this.dropOut)) + (await this.ensure('filter', 'INPUT', this.dropIn));
  }

  /** Brings the rules in line with `relays` (peer VTEP -> loopback port). Returns the number of changes. */
  async apply(relays: ReadonlyMap<string, number>): Promise<number> {
    // The drops first: from here on nothing of an encrypted network can leave in plaintext.
    let changes = await this.ensureDrops();
    let rules = await this.run.iptablesRules(TUNNEL_CHAIN, 'nat');
    if (rules === undefined) {
      await this.ipt('nat', ['-N', TUNNEL_CHAIN]);
      rules = [];
      changes++;
    }
    const wanted = [...relays].filter(([peer, port]) => isCanonicalIPv4(peer) && Number.isInteger(port) && port > 0 && port < 65536).map(([p, port]) => this.relayRule(p, port));
    const wantedText = new Set(wanted.map((r) => r.join(' ')));
    for (const rule of wanted) {
      if (!rules.includes(rule.join(' '))) {
        await this.ipt('nat', ['-A', TUNNEL_CHAIN, ...rule]);
        changes++;
      }
    }
    // Stale and duplicate rules go, by number from the bottom so that numbers stay valid.
    const seen = new Set<string>();
    const doomed = rules.map((r, i) => {
      const keep = wantedText.has(r) && !seen.has(r);
      seen.add(r);
      return keep ? 0 : i + 1;
    }).filter((n) => n > 0);
    for (const n of doomed.reverse()) {
      await this.ipt('nat', ['-D', TUNNEL_CHAIN, String(n)]);
      changes++;
    }
    return changes + (await this.ensure('nat', 'OUTPUT', this.jump));
  }

  /** Takes every rule and the chain away (no encrypted network left here). Absent is fine. */
  async remove(): Promise<number> {
    let changes = 0;
    changes += await this.deleteAll('nat', 'OUTPUT', this.jump);
    if ((await this.run.iptablesRules(TUNNEL_CHAIN, 'nat')) !== undefined) {
      await this.ipt('nat', ['-F', TUNNEL_CHAIN]);
      await this.ipt('nat', ['-X', TUNNEL_CHAIN]);
      changes++;
    }
    changes += await this.deleteAll('filter', 'INPUT', this.dropIn);
    changes += await this.deleteAll('filter', 'OUTPUT', this.dropOut);
    return changes;
  }

  /** The rule is in the chain (inserted first, so that no earlier ACCEPT bypasses it). */
  private async ensure(table: string, chain: string, rule: string[]): Promise<number> {
    if ((await this.run.iptables(['-t', table, '-C', chain, ...rule])).ok) return 0;
    await this.ipt(table, ['-I', chain, '1', ...rule]);
    return 1;
  }

  private async deleteAll(table: string, chain: string, rule: string[]): Promise<number> {
    let n = 0;
    while ((await this.run.iptables(['-t', table, '-C', chain, ...rule])).ok) {
      await this.ipt(table, ['-D', chain, ...rule]);
      n++;
    }
    return n;
  }

  private async ipt(table: string, args: string[]): Promise<void> {
    await this.run.iptablesStrict(['-t', table, ...args]);
  }
}

function isCanonicalIPv4(text: string): boolean {
  const parts = text.split('.');
  return parts.length === 4 && parts.every((p) => /^\d{1,3}$/.test(p) && String(Number(p)) === p && Number(p) <= 255);
}
