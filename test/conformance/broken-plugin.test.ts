import { afterEach, describe, expect, it } from 'vitest';
import { runConformance } from '../../src/conformance/run.js';
import { type BrokenPlugin, startBrokenPlugin } from './broken-plugin.js';
import { uniqueSocketPath } from './plugin-fixture.js';

/** The kit must see a plugin's mistakes: a kit that always passes proves nothing. */
let plugin: BrokenPlugin | undefined;

afterEach(async () => {
  await plugin?.close(); // closing the server removes its socket file
  plugin = undefined;
});

async function start(opts: { refuseCreateEndpoint?: boolean } = {}): Promise<string> {
  const socket = uniqueSocketPath();
  plugin = await startBrokenPlugin(socket, opts);
  return socket;
}

describe('the conformance kit against a deliberately broken plugin', () => {
  it('fails exactly the checks the plugin violates, and passes the others', async () => {
    const results = await runConformance({ socket: await start(), timeoutMs: 5000 });
    const failed = results.filter((r) => !r.ok).map((r) => r.name).sort();
    expect(failed, JSON.stringify(results, null, 2)).toEqual([
      'ipam.errors.empty-body', // answered under "Err" only: the engine sees success
      'ipam.errors.malformed-json',
      'ipam.errors.wrong-types',
      'lifecycle.join', // no SrcName
      'out-of-order.request-address-released-pool', // "Err" only again
      'repeat.delete-network', // not idempotent
    ]);
    const join = results.find((r) => r.name === 'lifecycle.join')!;
    expect(join.detail).toContain('InterfaceName.SrcName');
    expect(results.filter((r) => r.ok).length).toBeGreaterThan(20);
    expect(plugin!.state).toEqual({ pools: new Set(), addresses: new Set(), networks: new Set(), endpoints: new Set() });
  });

  it('gives back what it holds when the cycle stops midway', async () => {
    const results = await runConformance({ socket: await start({ refuseCreateEndpoint: true }), timeoutMs: 5000 });
    const byName = new Map(results.map((r) => [r.name, r]));
    expect(byName.get('lifecycle.create-endpoint')?.ok).toBe(false);
    expect(byName.get('lifecycle.join')?.detail).toMatch(/^not run/);
    expect(byName.get('cleanup.nothing-left')).toMatchObject({ ok: false, detail: expect.stringContaining('the kit gave all of it back') });
    expect(plugin!.state).toEqual({ pools: new Set(), addresses: new Set(), networks: new Set(), endpoints: new Set() });
  });

  it('reports a plugin that does not answer as failed, not as a crash', async () => {
    const results = await runConformance({ socket: '/nonexistent/tso-conf.sock', timeoutMs: 2000 });
    expect(results).toEqual([{ name: 'activate', ok: false, detail: expect.stringContaining('no HTTP answer') }]);
  });
});
