import type { Runner } from './runner.js';

/**
 * A network's host port (names.ts hostPortName) is there for the DNS responder: nothing that
 * arrives on it may be routed on, or a container could use the host as a router out of its
 * network. The port's own `forwarding` sysctl would say so, but a managed plugin's /proc/sys is
 * read-only; one FORWARD rule for every host port does it, inserted first so that no ACCEPT of
 * the engine's or an operator's lets such a packet through.
 */
export const HOST_PORT_FORWARD_RULE = ['-i', 'tsh-+', '-j', 'DROP'] as const;

export class HostPortGuard {
  constructor(private readonly run: Runner) {}

  /** The rule in FORWARD (once; where it sits is left alone); returns whether it was added. */
  async ensure(): Promise<boolean> {
    if ((await this.run.iptables(['-C', 'FORWARD', ...HOST_PORT_FORWARD_RULE])).ok) return false;
    await this.run.iptablesStrict(['-I', 'FORWARD', '1', ...HOST_PORT_FORWARD_RULE]);
    return true;
  }
}
