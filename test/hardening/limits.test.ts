import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PluginClient } from '../../src/conformance/client.js';
import { type IsolatedPlugin, startIsolatedPlugin } from '../conformance/plugin-fixture.js';
import { waitFor } from '../helpers/wait-for.js';

/**
 * The call limits of issue 6 part 1 on a real plugin (real etcd, own namespace), set low so
 * that a burst crosses them: calls over a limit get a clear "busy" error at once, the others
 * are served, nothing refused takes an address, the log counts the refusals without a
 * line for each, and the plugin serves again afterwards.
 */
const IN_FLIGHT = 4;
const RATE = 50;
let plugin: IsolatedPlugin;

beforeAll(async () => {
  plugin = await startIsolatedPlugin({
    underlay: '198.18.252.1',
    etcdPorts: { clientPort: 23996, peerPort: 23997 },
    nodeName: 'limited',
    logLevel: 'warn',
    extraArgs: ['--max-calls-in-flight', String(IN_FLIGHT), '--max-call-rate', String(RATE)],
  });
});

afterAll(async () => {
  await plugin?.stop();
});

/** 10.0.3.17/24 -> 17: the pool is a /24. */
const lastOctet = (address: string) => Number(address.split('/')[0]!.split('.')[3]);

describe('call limits (--max-calls-in-flight, --max-call-rate)', () => {
  it('refuse what is over the limits with a busy error, serve the rest, and leak nothing', async () => {
    const client = new PluginClient(plugin.socket, 15_000);
    const { reply: pool } = await client.call('/IpamDriver.RequestPool', { AddressSpace: 'ts-overlay', Pool: '', SubPool: '', Options: {}, V6: false });
    const poolId = (pool.json as { PoolID: string }).PoolID;
    client.close();
    expect(poolId).toMatch(/^10\./);

    const clients = Array.from({ length: 16 }, () => new PluginClient(plugin.socket, 15_000));
    const served: string[] = [];
    const busy: string[] = [];
    const other: string[] = [];
    try {
      await Promise.all(clients.map(async (c) => {
        for (let n = 0; n < 20; n++) {
          // Constant calls are never limited: the engine's activation check always works.
          const activate = await c.call('/Plugin.Activate');
          if (activate.reply.status !== 200) other.push(`Activate: ${activate.reply.status} ${activate.reply.text}`);
          const { reply } = await c.call('/IpamDriver.RequestAddress', { PoolID: poolId, Address: '', Options: {} });
          const body = reply.json as { Address?: string; Err?: string; Error?: string };
          if (reply.status === 200 && body.Address) served.push(body.Address);
          else if (reply.status === 200 && /^ts-overlay is busy: /.test(body.Error ?? '') && body.Err === body.Error) busy.push(body.Error!);
          else other.push(`${reply.status} ${reply.text}`);
        }
      }));
    } finally {
      for (const c of clients) c.close();
    }
    console.log(`limits: 320 RequestAddress on 16 connections: ${served.length} served, ${busy.length} busy`);
    expect(other).toEqual([]);
    expect(served.length).toBeGreaterThan(0);
    expect(busy.length).toBeGreaterThan(0);
    expect(busy.some((m) => m.includes('--max-call-rate')) || busy.some((m) => m.includes('--max-calls-in-flight'))).toBe(true);
    expect(new Set(served).size).toBe(served.length);
    // Gateway-free pool: the served addresses are its lowest ones, none skipped; a refused call
    // took nothing (below: the next call gets the address right after them).
    const offsets = served.map(lastOctet).sort((a, b) => a - b);
    expect(offsets).toEqual(Array.from({ length: served.length }, (_, i) => i + 1));

    // A second later the bucket has refilled: the plugin serves again.
    await new Promise((r) => setTimeout(r, 1500));
    const after = new PluginClient(plugin.socket, 15_000);
    const { reply } = await after.call('/IpamDriver.RequestAddress', { PoolID: poolId, Address: '', Options: {} });
    after.close();
    expect(lastOctet((reply.json as { Address: string }).Address)).toBe(served.length + 1);

    // The log accounts for every refusal, in a few lines rather than one each (BurstLog): the
    // first of each second's burst, then how many more.
    const busyLines = () => plugin.plugin.output().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as { kind?: string; more?: number; msg: string })
      .filter((l) => l.kind === 'busy');
    const accounted = () => busyLines().reduce((n, l) => n + (l.more ?? 1), 0);
    // The last burst's summary comes from a timer a second after its first refusal: on a busy
    // machine it can come after the call above, so wait for it (the checks below say what is off).
    await waitFor('every refusal in the log', async () => accounted() === busy.length, 5000, 100).catch(() => undefined);
    const refusals = busyLines();
    expect(refusals.length).toBeGreaterThan(0);
    expect(refusals.length).toBeLessThan(busy.length);
    expect(refusals.reduce((n, l) => n + (l.more ?? 1), 0)).toBe(busy.length); // a summary line stands for `more` refusals
  });
});
