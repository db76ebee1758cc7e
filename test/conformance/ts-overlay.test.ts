import { rmSync, statSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runConformance, type CheckResult } from '../../src/conformance/run.js';
import { type EtcdServer, startEtcd } from '../helpers/etcd-server.js';
import { makeNetns, type Netns, sh } from '../helpers/netns.js';
import {
  NS_LABEL, type PluginProcess, removeLeftoversOfDeadRuns, removeNamespaceAndItsProcesses, startPlugin, uniqueSocketPath, waitForSocket,
} from './plugin-fixture.js';

/**
 * The kit against the real plugin: dist/main.js with a real etcd, both inside a throwaway
 * namespace whose only "underlay" is a veth pair (this kernel has no dummy links). The
 * namespace's own loopback means the etcd ports cannot clash with anything on the host.
 */
const UNDERLAY = '198.18.250.1';
const ETCD_PORTS = { clientPort: 23990, peerPort: 23991 };
/** Key prefixes under /ts-overlay/ that must be empty once every network is gone. */
const STATE_PREFIXES = ['pools/', 'addresses/', 'networks/', 'endpoints/', 'vnis/', 'copies/'];

let ns: Netns | undefined;
let etcd: EtcdServer | undefined;
let plugin: PluginProcess | undefined;
const socket = uniqueSocketPath();

beforeAll(async () => {
  removeLeftoversOfDeadRuns();
  ns = makeNetns(NS_LABEL);
  ns.exec('ip', 'link', 'add', 'u0', 'type', 'veth', 'peer', 'name', 'u1');
  ns.exec('ip', 'addr', 'add', `${UNDERLAY}/24`, 'dev', 'u0');
  ns.exec('ip', 'link', 'set', 'u0', 'up');
  ns.exec('ip', 'link', 'set', 'u1', 'up');
  etcd = await startEtcd({ ...ETCD_PORTS, netns: ns.name });
  plugin = startPlugin(ns.name, [
    '--socket', socket,
    '--etcd', etcd.endpoint,
    '--advertise-addr', UNDERLAY,
    '--node-name', 'conf',
    '--docker-host', 'unix:///nonexistent.sock',
    '--log-level', 'warn',
  ]);
  await waitForSocket(socket, plugin);
});

afterAll(async () => {
  try {
    await plugin?.stop();
    // Bounded: the helper waits for an exit that never comes if etcd had died already.
    let timer: NodeJS.Timeout | undefined;
    if (etcd) await Promise.race([etcd.stop(), new Promise((r) => (timer = setTimeout(r, 10_000)))]);
    clearTimeout(timer);
  } finally {
    // Whatever still runs in the namespace (an etcd whose start timed out) was started here.
    if (ns) removeNamespaceAndItsProcesses(ns.name);
    rmSync(socket, { force: true });
  }
});

const format = (results: readonly CheckResult[]) =>
  results.map((r) => `${r.informational ? 'INFO' : r.ok ? 'PASS' : 'FAIL'} ${r.name}: ${r.detail}`).join('\n');

describe('conformance of ts-overlay (dist/main.js)', () => {
  it('serves its socket to root only (mode 0600)', () => {
    expect(statSync(socket).mode & 0o777).toBe(0o600);
  });

  it('passes every check, and leaves no state in etcd and no devices behind', async () => {
    const results = await runConformance({ socket, timeoutMs: 15_000 });
    console.log(format(results));
    const failed = results.filter((r) => !r.ok);
    expect(failed, `failed checks:\n${format(failed)}\n\nplugin output:\n${plugin!.output()}`).toEqual([]);
    // Every group ran: a kit that silently skipped checks would pass too easily.
    const names = results.map((r) => r.name);
    for (const name of ['network.capabilities', 'ipam.errors.wrong-types', 'lifecycle.join', 'repeat.release-pool', 'out-of-order.join-unknown-endpoint', 'cleanup.nothing-left']) {
      expect(names).toContain(name);
    }

    const keys = ns!
      .exec('env', 'ETCDCTL_API=3', 'etcdctl', '--endpoints', etcd!.endpoint, 'get', '/ts-overlay/', '--prefix', '--keys-only')
      .split('\n')
      .filter(Boolean);
    // The node's own (leased) key proves that the query sees the plugin's keys at all.
    expect(keys).toContain('/ts-overlay/nodes/conf');
    const state = keys.filter((k) => STATE_PREFIXES.some((p) => k.startsWith(`/ts-overlay/${p}`)));
    expect(state, `etcd keys left: ${keys.join(', ')}`).toEqual([]);

    const links = sh('ip', ['-n', ns!.name, '-br', 'link']).split('\n').map((l) => l.split(/\s+/)[0]!.split('@')[0]!);
    expect(links.filter((l) => l.startsWith('ts'))).toEqual([]);
  });
});
