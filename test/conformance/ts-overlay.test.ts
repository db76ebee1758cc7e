import { statSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runConformance, type CheckResult } from '../../src/conformance/run.js';
import { RESOLVER_DEVICE } from '../../src/dataplane/resolver-host.js';
import { sh } from '../helpers/netns.js';
import { type IsolatedPlugin, startIsolatedPlugin } from './plugin-fixture.js';

/** The kit against the real plugin: dist/main.js with a real etcd, in a namespace of its own. */
const UNDERLAY = '198.18.250.1';
const ETCD_PORTS = { clientPort: 23990, peerPort: 23991 };
/** Key prefixes under /ts-overlay/ that must be empty once every network is gone. */
const STATE_PREFIXES = ['pools/', 'addresses/', 'networks/', 'endpoints/', 'vnis/', 'copies/', 'names/'];

let fixture: IsolatedPlugin | undefined;

beforeAll(async () => {
  fixture = await startIsolatedPlugin({ underlay: UNDERLAY, etcdPorts: ETCD_PORTS, nodeName: 'conf', logLevel: 'warn' });
});

afterAll(() => fixture?.stop());

const format = (results: readonly CheckResult[]) =>
  results.map((r) => `${r.informational ? 'INFO' : r.ok ? 'PASS' : 'FAIL'} ${r.name}: ${r.detail}`).join('\n');

describe('conformance of ts-overlay (dist/main.js)', () => {
  it('serves its socket to root only (mode 0600)', () => {
    expect(statSync(fixture!.socket).mode & 0o777).toBe(0o600);
  });

  it('passes every check, and leaves no state in etcd and no devices behind', async () => {
    const results = await runConformance({ socket: fixture!.socket, timeoutMs: 15_000 });
    console.log(format(results));
    const failed = results.filter((r) => !r.ok);
    expect(failed, `failed checks:\n${format(failed)}\n\nplugin output:\n${fixture!.plugin.output()}`).toEqual([]);
    // Every group ran: a kit that silently skipped checks would pass too easily.
    const names = results.map((r) => r.name);
    for (const name of ['network.capabilities', 'ipam.errors.wrong-types', 'lifecycle.join', 'repeat.release-pool', 'out-of-order.join-unknown-endpoint', 'cleanup.nothing-left']) {
      expect(names).toContain(name);
    }

    const keys = fixture!.ns
      .exec('env', 'ETCDCTL_API=3', 'etcdctl', '--endpoints', fixture!.etcd.endpoint, 'get', '/ts-overlay/', '--prefix', '--keys-only')
      .split('\n')
      .filter(Boolean);
    // The node's own (leased) key proves that the query sees the plugin's keys at all.
    expect(keys).toContain('/ts-overlay/nodes/conf');
    const state = keys.filter((k) => STATE_PREFIXES.some((p) => k.startsWith(`/ts-overlay/${p}`)));
    expect(state, `etcd keys left: ${keys.join(', ')}`).toEqual([]);

    const links = sh('ip', ['-n', fixture!.ns.name, '-br', 'link']).split('\n').map((l) => l.split(/\s+/)[0]!.split('@')[0]!);
    // The DNS responder's device belongs to the host, not to a network: it stays.
    expect(links.filter((l) => l.startsWith('ts'))).toEqual([RESOLVER_DEVICE]);
  });
});
