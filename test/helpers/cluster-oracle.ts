import { HOST_PORT_FORWARD_RULE } from '../../src/dataplane/host-port-guard.js';
import { hostPortName, vxlanName } from '../../src/dataplane/names.js';

const HOST_PORT_GUARD = `-A FORWARD ${HOST_PORT_FORWARD_RULE.join(' ')}`;
import type { EnginePlayer } from './engine-player.js';
import type { PluginCluster } from './plugin-cluster.js';

const BROADCAST = '00:00:00:00:00:00';
const cidrKey = (cidr: string) => cidr.replace('/', '_');
const ipOf = (withPrefix: string) => withPrefix.split('/')[0]!;

/**
 * What etcd and every host's kernel must hold, derived only from what the engines hold
 * (their networks and attached containers), compared with what is there. Each difference is
 * one line: "lost ..." (the engines have it, the cluster does not) or "leaked ..." (the
 * cluster has it, no engine does). Empty means exactly the described state exists.
 */
export function stateProblems(cluster: PluginCluster, players: readonly EnginePlayer[], propagation = false): string[] {
  const etcd = cluster.etcdState();
  const problems: string[] = [];
  const expectKeys = new Set<string>();
  const vniOf = new Map<string, number>();

  // ---- etcd ----
  const poolUsers = new Map<string, Set<string>>();
  for (const p of players) {
    for (const n of p.networks.values()) {
      const record = etcd.get(`networks/${n.clusterId}`);
      if (!record) {
        problems.push(`lost: networks/${n.clusterId} (engine network ${n.engineId} on ${p.host.name})`);
        continue;
      }
      const r = JSON.parse(record) as { vni: number; subnet: string };
      if (r.subnet !== n.subnet) problems.push(`wrong: networks/${n.clusterId} has subnet ${r.subnet}, the engine ${n.subnet}`);
      vniOf.set(n.clusterId, r.vni);
      for (const k of [`networks/${n.clusterId}`, `vnis/${r.vni}`, `pools/${cidrKey(n.subnet)}`, `addresses/${cidrKey(n.subnet)}/${ipOf(n.gateway)}`, `copies/${p.host.name}/${n.engineId}`]) expectKeys.add(k);
      for (const a of Object.values(n.aux)) expectKeys.add(`addresses/${cidrKey(n.subnet)}/${ipOf(a)}`);
      if (!poolUsers.has(n.subnet)) poolUsers.set(n.subnet, new Set());
      poolUsers.get(n.subnet)!.add(p.host.name);
    }
    for (const c of p.containers.values()) {
      expectKeys.add(`endpoints/${c.clusterId}/${c.endpointId}`);
      expectKeys.add(`addresses/${cidrKey(c.subnet)}/${ipOf(c.ip)}`);
      const e = etcd.get(`endpoints/${c.clusterId}/${c.endpointId}`);
      if (e) {
        const r = JSON.parse(e) as { ip: string; mac: string; node: string };
        if (r.ip !== ipOf(c.ip) || r.mac !== c.mac || r.node !== p.host.name) problems.push(`wrong: endpoint ${c.endpointId} is ${r.ip} ${r.mac} on ${r.node}, the engine has ${c.ip} ${c.mac} on ${p.host.name}`);
      }
    }
  }
  for (const k of expectKeys) if (!etcd.has(k)) problems.push(`lost: etcd ${k}`);
  if (propagation) {
    // Every network the cluster has (named: its creator's engine has it) is on every host.
    for (const [key, value] of etcd) {
      if (!key.startsWith('networks/')) continue;
      const r = JSON.parse(value) as { id: string; name?: string };
      if (r.name === undefined) continue;
      for (const p of players) {
        if (![...p.networks.values()].some((n) => n.clusterId === r.id)) problems.push(`lost: ${p.host.name}'s copy of network ${r.name} (${r.id})`);
      }
    }
  }
  for (const k of etcd.keys()) if (!expectKeys.has(k)) problems.push(`leaked: etcd ${k} = ${etcd.get(k)}`);
  for (const [subnet, users] of poolUsers) {
    const pool = etcd.get(`pools/${cidrKey(subnet)}`);
    if (!pool) continue;
    const have = [...(JSON.parse(pool) as { users: string[] }).users].sort().join(',');
    const want = [...users].sort().join(',');
    if (have !== want) problems.push(`wrong: pool ${subnet} lists users ${have}, the engines ${want}`);
  }

  // ---- kernels ----
  const liveNodes = new Set(cluster.liveNodes());
  for (const p of players) {
    const h = p.host;
    const links = new Set<string>();
    // Once the host has had a network, exactly the host-port guard (it stays: it is harmless
    // without host ports); never the forward chain of earlier builds.
    const rules = new Set<string>(p.networks.size > 0 || h.forwardRules().includes(HOST_PORT_GUARD) ? [HOST_PORT_GUARD] : []);
    const peers = new Set<string>();
    for (const n of p.networks.values()) {
      const vni = vniOf.get(n.clusterId);
      if (vni === undefined) continue;
      links.add(hostPortName(vni)).add(vxlanName(vni));
      const vteps = new Set<string>();
      for (const other of players) {
        if (other === p || !liveNodes.has(other.host.name)) continue;
        for (const c of other.containers.values()) {
          if (c.clusterId !== n.clusterId) continue;
          peers.add(`fdb ${vxlanName(vni)} ${c.mac} ${other.host.vtep}`);
          peers.add(`neigh ${vxlanName(vni)} ${ipOf(c.ip)} ${c.mac}`);
          vteps.add(other.host.vtep);
        }
      }
      for (const v of vteps) peers.add(`fdb ${vxlanName(vni)} ${BROADCAST} ${v}`);
    }
    // The endpoint's interface stays in the host namespace: the test does not move it anywhere.
    // Spares made ahead of Joins (tsp-*) that no container was given count as leaked until the
    // plugin deletes them after a quiet spell (settle waits for that).
    for (const c of p.containers.values()) links.add(c.port);
    compare(problems, `${h.name} link`, links, new Set(h.links()));
    compare(problems, `${h.name} forward rule`, rules, new Set(h.forwardRules()));
    compare(problems, `${h.name}`, peers, new Set(h.peerEntries()));
  }
  return problems;
}

function compare(problems: string[], what: string, want: Set<string>, have: Set<string>): void {
  for (const w of want) if (!have.has(w)) problems.push(`lost: ${what} ${w}`);
  for (const x of have) if (!want.has(x)) problems.push(`leaked: ${what} ${x}`);
}

/** Polls until stateProblems is empty; returns the last problems otherwise. */
export async function settle(cluster: PluginCluster, players: readonly EnginePlayer[], timeoutMs: number, propagation = false): Promise<string[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const problems = stateProblems(cluster, players, propagation);
    if (problems.length === 0 || Date.now() > deadline) return problems;
    await new Promise((r) => setTimeout(r, 250));
  }
}
