import type { Runner } from '../dataplane/runner.js';
import { errorMessage } from '../lib/errors.js';
import { type CheckResult, fail, pass } from './check.js';

const NAME = 'routes to peers';

export interface Peer {
  readonly name: string;
  readonly vtep: string;
}

interface RouteJson { dst: string; dev?: string; gateway?: string; type?: string }

/** What the kernel's route lookup errors mean (ip route get prints only the errno). */
export function explainRouteError(message: string): string {
  if (/Invalid argument/.test(message)) return 'a blackhole route covers it';
  if (/Permission denied/.test(message)) return 'a prohibit route covers it';
  if (/No route to host/.test(message)) return 'an unreachable route covers it';
  if (/Network is unreachable/.test(message)) return 'no route leads there';
  return message;
}

/**
 * Asks the kernel (`ip route get`) how it would send VXLAN packets to every other node's
 * VTEP, as listed in etcd. A missing or blackholed route means no traffic to that host's
 * containers, with nothing in the plugin's log.
 */
export async function checkPeerRoutes(run: Runner, self: { name: string; vtep: string }, peers: readonly Peer[]): Promise<CheckResult> {
  const others = peers.filter((p) => p.name !== self.name);
  if (others.length === 0) return pass(NAME, 'no other node is registered in etcd');
  const good: string[] = [];
  const bad: Array<{ peer: Peer; why: string }> = [];
  for (const peer of others) {
    if (peer.vtep === self.vtep) {
      bad.push({ peer, why: "it has this host's own VTEP" });
      continue;
    }
    try {
      const [route] = await run.ipJson<RouteJson>(['route', 'get', peer.vtep]);
      if (!route?.dev || route.dev === 'lo') bad.push({ peer, why: `the route leads to ${route?.dev ?? 'nowhere'}` });
      else good.push(`${peer.name} ${peer.vtep} via ${route.gateway ? `${route.gateway} ` : ''}${route.dev}`);
    } catch (err) {
      bad.push({ peer, why: explainRouteError(errorMessage(err)) });
    }
  }
  if (bad.length === 0) return pass(NAME, good.join('; '));
  return fail(
    NAME,
    `no usable route to ${bad.map((b) => `${b.peer.name} (${b.peer.vtep}): ${b.why}`).join('; ')}`,
    `see the route in the way (ip route show match ${bad[0]!.peer.vtep}) and remove it, or add a route to the peer's underlay; a node registered with a wrong VTEP needs --advertise-addr`,
  );
}
