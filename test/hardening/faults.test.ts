import { writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CRASH_ENV, CRASH_POINTS, type CrashPoint } from '../../src/lib/crash-point.js';
import { settle } from '../helpers/cluster-oracle.js';
import { CallFailed, type EngineCtr, type EngineNet, EnginePlayer } from '../helpers/engine-player.js';
import { TEST_PORT_BASE } from '../helpers/instance.js';
import { PluginCluster } from '../helpers/plugin-cluster.js';

/**
 * Issue 6, part 3 ("Faults"): two real plugins (dist/main.js) on one real etcd, each in its own
 * namespace with the test as its engine. A plugin dies (SIGKILL) at each named crash point of
 * src/lib/crash-point.ts, between two side effects of CreateNetwork, a host's copy of a
 * network, CreateEndpoint, Join, DeleteEndpoint, DeleteNetwork and peer programming; and at
 * random moments under concurrent load. After each death it is started again, and then:
 *  - etcd and both kernels hold exactly what the engines hold (nothing the engines were told
 *    exists is lost; no address, endpoint, pool, VNI, network or copy key, device, endpoint
 *    interface, FDB or neighbour entry exists that no engine has, and FORWARD holds only the
 *    host-port guard);
 *  - the request the engine lost is retried and succeeds;
 *  - removing everything leaves etcd and both kernels empty.
 *
 * Size: FAULT_NTH (each point is hit at its 1st..Nth pass; CI 1) on FAULT_HOSTS targets
 * ("one": one host per point, alternating; "both": each host; CI one), FAULT_RANDOM random
 * kills (CI 4). Full size: FAULT_NTH=3 FAULT_HOSTS=both FAULT_RANDOM=60 (README, "Races and faults").
 * FAULT_LOG=info|debug: the plugins log at that level, and a failed baseline step leaves each
 * plugin's log in /tmp/tso-faults-hN.log.
 */
const NTH = Number(process.env['FAULT_NTH'] ?? 1);
const BOTH = process.env['FAULT_HOSTS'] === 'both';
const RANDOM = Number(process.env['FAULT_RANDOM'] ?? 4);
/** Reconciles run every second and leave only objects younger than 2 s alone. */
const PLUGIN_ARGS = ['--reconcile-interval', '1', '--reconcile-grace', '2'];
const SETTLE_MS = 25_000;

let cluster: PluginCluster;
let players: EnginePlayer[];
const tally = { runs: 0, crashed: 0, notReached: 0, retried: 0, randomKills: 0, calls: 0, byPoint: new Map<string, number>() };

beforeAll(async () => {
  cluster = await PluginCluster.start({ hosts: 2, underlayNet: 241, etcdPorts: { clientPort: TEST_PORT_BASE + 6, peerPort: TEST_PORT_BASE + 7 }, fakeEngine: true, pluginArgs: PLUGIN_ARGS, logLevel: process.env['FAULT_LOG'] || 'error' });
  players = cluster.hosts.map((h) => new EnginePlayer(h));
}, 120_000);

afterAll(async () => {
  tally.calls = players?.reduce((n, p) => n + p.sent, 0) ?? 0;
  console.log(
    `faults: ${tally.runs} runs (${tally.crashed} crashes at named points over ${tally.byPoint.size} of ${CRASH_POINTS.length} points, ` +
      `${tally.randomKills} SIGKILLs at random moments, ${tally.notReached} point/pass combinations not reached by the workload); ` +
      `${tally.retried} interrupted requests retried; ${tally.calls} plugin API calls\n` +
      [...tally.byPoint.entries()].map(([p, n]) => `  ${p.padEnd(34)} ${n}`).join('\n'),
  );
  await cluster?.stop();
}, 120_000);

// ---- the workload: what engines do, step by step ------------------------------------------

interface World {
  nets: Map<string, { host: number; net: EngineNet }>;
  ctrs: Map<string, { host: number; ctr: EngineCtr }>;
}
interface Step {
  readonly name: string;
  readonly host: number;
  /** Creating steps are retried after a crash; removing ones are not (the engine forgot the object). */
  readonly creates: boolean;
  run(w: World): Promise<void>;
}

let round = 0;
/** One round: a network with a given subnet, VNI and aux address, its copy on the other host, containers on both, a second network, then everything removed. */
function workload(): Step[] {
  const r = (round++ % 200) + 1;
  const subnet = `10.77.${r}.0/24`;
  const vni = 5000 + r;
  const net = (host: number, name: string, opts: Parameters<EnginePlayer['createNetwork']>[0]): Step => ({
    name: `h${host + 1} network create ${name}`,
    host,
    creates: true,
    run: async (w) => {
      const copyOf = opts?.clusterId;
      if (copyOf !== undefined && !w.nets.has(copyOf)) return; // nothing to copy
      const o = copyOf !== undefined ? { clusterId: w.nets.get(copyOf)!.net.clusterId } : opts;
      w.nets.set(name, { host, net: await players[host]!.createNetwork(o) });
    },
  });
  const run = (host: number, name: string, on: string): Step => ({
    name: `h${host + 1} run ${name} on ${on}`,
    host,
    creates: true,
    run: async (w) => {
      const n = w.nets.get(on);
      if (!n) return;
      w.ctrs.set(name, { host, ctr: await players[host]!.run(n.net.engineId) });
    },
  });
  const copyOn = (host: number, name: string, of: string): Step => ({
    name: `h${host + 1} gets its copy of ${of}`,
    host,
    creates: false,
    run: async (w) => {
      const original = w.nets.get(of);
      if (!original) return;
      const deadline = Date.now() + SETTLE_MS;
      for (;;) {
        const copy = [...players[host]!.networks.values()].find((n) => n.clusterId === original.net.clusterId);
        if (copy) return void w.nets.set(name, { host, net: copy });
        if (!cluster.hosts[host]!.alive() || !cluster.hosts[original.host]!.alive()) return; // a crash: checked after the restart
        if (Date.now() > deadline) throw new Error(`${cluster.hosts[host]!.name} got no copy of network ${of} by propagation`);
        await new Promise((r) => setTimeout(r, 50));
      }
    },
  });
  const stop = (name: string): Step => ({
    name: `stop ${name}`,
    host: -1,
    creates: false,
    run: async (w) => {
      const c = w.ctrs.get(name);
      if (!c) return;
      w.ctrs.delete(name);
      const failed = await players[c.host]!.stop(c.ctr.endpointId);
      if (failed.some((f) => f.answered)) throw failed.find((f) => f.answered)!;
      if (failed.length) throw failed[0]!;
    },
  });
  const rm = (name: string): Step => ({
    name: `network rm ${name}`,
    host: -1,
    creates: false,
    run: async (w) => {
      const n = w.nets.get(name);
      if (!n) return;
      w.nets.delete(name);
      const failed = await players[n.host]!.removeNetwork(n.net.engineId);
      if (failed.length) throw failed[0]!;
    },
  });
  const copiesGone: Step = {
    name: 'copies leave h2',
    host: 1,
    creates: false,
    run: async () => {
      const deadline = Date.now() + SETTLE_MS;
      while (players[1]!.networks.size > 0 && cluster.hosts.every((h) => h.alive())) {
        if (Date.now() > deadline) throw new Error('h2 kept copies of removed networks');
        await new Promise((r) => setTimeout(r, 50));
      }
    },
  };
  return [
    net(0, 'A', { subnet, vni, aux: { spare: `10.77.${r}.250` } }),
    copyOn(1, 'A2', 'A'),
    run(0, 'c1', 'A'),
    run(1, 'c2', 'A2'),
    run(0, 'c3', 'A'),
    net(0, 'B', {}),
    copyOn(1, 'B2', 'B'),
    run(0, 'c4', 'B'),
    run(1, 'c5', 'B2'),
    stop('c1'),
    stop('c2'),
    stop('c5'),
    stop('c3'),
    stop('c4'),
    rm('B'),
    rm('A'),
    copiesGone,
  ];
}

function removeAllSteps(): Step[] {
  // Containers first, then copies, then the networks they copy (as an operator would).
  const steps: Step[] = [];
  for (const p of players) for (const id of [...p.containers.keys()]) steps.push({ name: `stop ${id}`, host: -1, creates: false, run: async () => void (await p.stop(id)) });
  for (const p of players) for (const id of [...p.networks.keys()]) steps.push({ name: `rm ${id}`, host: -1, creates: false, run: async () => void (await p.removeNetwork(id)) });
  return steps;
}

/** Removes everything the engines hold and checks that nothing at all is left. */
async function removeAllAndCheckEmpty(context: string): Promise<void> {
  for (const s of removeAllSteps()) await s.run({ nets: new Map(), ctrs: new Map() });
  const problems = await settle(cluster, players, SETTLE_MS, true);
  expect(problems, `${context}: left after removing everything`).toEqual([]);
}

async function ensureRunning(): Promise<void> {
  for (const h of cluster.hosts) if (!h.alive()) await h.start();
}

// ---- crash at named points ----------------------------------------------------------------

/**
 * Runs the workload with `point:nth` armed on `target`; true when the plugin died there. Then
 * restarts it, checks the state, retries what was lost, and removes everything.
 */
async function crashRun(point: CrashPoint, nth: number, target: number): Promise<boolean> {
  const host = cluster.hosts[target]!;
  const label = `${point}:${nth} on ${host.name}`;
  await host.stop();
  await host.start({ [CRASH_ENV]: `${point}:${nth}` });
  const w: World = { nets: new Map(), ctrs: new Map() };
  let interrupted: Step | undefined;
  for (const step of workload()) {
    try {
      await step.run(w);
    } catch (err) {
      if (!(err instanceof CallFailed) || err.answered) throw new Error(`${label}: "${step.name}" failed without a crash: ${String(err)}\n${host.plugin?.output().slice(-3000)}`);
      interrupted = step;
    }
    if (!host.alive() || interrupted) break;
  }
  // A crash in the background (peer programming) may come just after the last call returned.
  await new Promise((r) => setTimeout(r, 50));
  tally.runs++;
  if (host.alive() && !interrupted) {
    tally.notReached++;
    await host.stop();
    await host.start();
    await removeAllAndCheckEmpty(`${label} (not reached)`);
    return false;
  }
  await host.exited();
  const exit = host.exits.at(-1)!;
  expect(exit.signal, `${label}: the plugin should have died by SIGKILL:\n${exit.output.slice(-3000)}`).toBe('SIGKILL');
  expect(exit.output, label).toContain(`crashing at ${point}`);
  tally.crashed++;
  tally.byPoint.set(point, (tally.byPoint.get(point) ?? 0) + 1);

  await ensureRunning();
  const problems = await settle(cluster, players, SETTLE_MS, true);
  expect(problems, `${label}, interrupted "${interrupted?.name ?? '(background)'}": after restart and reconcile`).toEqual([]);

  if (interrupted?.creates) {
    // The engine (or the user) tries again: the same request, new IDs.
    await interrupted.run(w);
    tally.retried++;
    expect(await settle(cluster, players, SETTLE_MS, true), `${label}: after retrying "${interrupted.name}"`).toEqual([]);
  }
  await removeAllAndCheckEmpty(label);
  return true;
}

describe('the plugin killed at every crash point', () => {
  it('baseline: the workload without a crash leaves nothing behind', async () => {
    const w: World = { nets: new Map(), ctrs: new Map() };
    for (const step of workload()) {
      await step.run(w).catch((err: unknown) => {
        if (process.env['FAULT_LOG']) for (const h of cluster.hosts) writeFileSync(`/tmp/tso-faults-${h.name}.log`, h.plugin?.output() ?? '');
        throw new Error(`${step.name}: ${String(err)}\n${cluster.hosts.map((h) => `${h.name}:\n${h.plugin?.output().slice(-4000)}`).join('\n')}`);
      });
    }
    expect(await settle(cluster, players, SETTLE_MS, true)).toEqual([]);
    expect(cluster.etcdState().size).toBe(0);
  });

  CRASH_POINTS.forEach((point, i) => {
    const targets = BOTH ? [0, 1] : [i % 2];
    it(`${point}`, async () => {
      let crashed = 0;
      for (const target of targets) {
        for (let nth = 1; nth <= NTH; nth++) {
          if (!(await crashRun(point, nth, target))) break;
          crashed++;
        }
      }
      // Every point is reached by this workload on at least one of its targets, or it is dead code.
      if (crashed === 0) {
        if (BOTH) expect.fail(`${point} was never reached on either host`);
        // One more chance on the other host (points that only one side passes).
        expect(await crashRun(point, 1, 1 - targets[0]!), `${point} was never reached`).toBe(true);
      }
    }, 300_000);
  });
});

// ---- SIGKILL at random moments under load --------------------------------------------------

describe('the plugin killed at random moments under load', () => {
  it(`${RANDOM} random kills`, async () => {
    let seed = 0x5eed;
    const rand = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
    for (let k = 0; k < RANDOM; k++) {
      await ensureRunning();
      const target = k % 2;
      const host = cluster.hosts[target]!;
      let stop = false;
      const lane = async (l: number) => {
        // Each lane: a network on its host (a copy on the other), containers on both, all removed, again.
        while (!stop) {
          const w: World = { nets: new Map(), ctrs: new Map() };
          const me = l % 2;
          const steps: Step[] = [
            { name: 'net', host: me, creates: true, run: async (x) => void x.nets.set('N', { host: me, net: await players[me]!.createNetwork({}) }) },
            {
              name: 'copy',
              host: 1 - me,
              creates: false,
              run: async (x) => {
                // Propagation makes the copy; give up when the kill comes first.
                const id = x.nets.get('N')!.net.clusterId;
                for (;;) {
                  const copy = [...players[1 - me]!.networks.values()].find((n) => n.clusterId === id);
                  if (copy) return void x.nets.set('C', { host: 1 - me, net: copy });
                  if (stop) throw new CallFailed('propagation', false, 'killed before the copy was made');
                  await new Promise((r) => setTimeout(r, 50));
                }
              },
            },
            { name: 'run1', host: me, creates: true, run: async (x) => void x.ctrs.set('a', { host: me, ctr: await players[me]!.run(x.nets.get('N')!.net.engineId) }) },
            { name: 'run2', host: 1 - me, creates: true, run: async (x) => void x.ctrs.set('b', { host: 1 - me, ctr: await players[1 - me]!.run(x.nets.get('C')!.net.engineId) }) },
            { name: 'stop', host: -1, creates: false, run: async (x) => { for (const [k2, c] of x.ctrs) { x.ctrs.delete(k2); await players[c.host]!.stop(c.ctr.endpointId); } } },
            { name: 'rm', host: -1, creates: false, run: async (x) => { const n = x.nets.get('N')!; x.nets.delete('N'); await players[n.host]!.removeNetwork(n.net.engineId); } },
          ];
          for (const s of steps) {
            if (stop) return;
            try {
              await s.run(w);
            } catch (err) {
              if (err instanceof CallFailed && !err.answered) return; // the plugin died under it
              throw err;
            }
          }
        }
      };
      const lanes = [0, 1, 2, 3].map(lane);
      await new Promise((r) => setTimeout(r, 150 + Math.floor(rand() * 1500)));
      await host.kill('SIGKILL');
      stop = true;
      await Promise.all(lanes);
      tally.runs++;
      tally.randomKills++;
      await ensureRunning();
      const problems = await settle(cluster, players, SETTLE_MS, true);
      expect(problems, `random kill ${k + 1} of ${host.name}: after restart and reconcile`).toEqual([]);
      await removeAllAndCheckEmpty(`random kill ${k + 1}`);
    }
  }, 900_000);
});
