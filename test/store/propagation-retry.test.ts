import { afterAll, describe, expect, inject, it } from 'vitest';
import { EngineClient } from '../../src/docker/engine-client.js';
import { Propagation } from '../../src/driver/propagation.js';
import { silentLogger } from '../../src/lib/logger.js';
import { sleep } from '../../src/lib/retry.js';
import type { ClusterStore } from '../../src/store/cluster-store.js';
import { FakeEngine } from '../helpers/fake-engine.js';
import { freshStore } from '../helpers/store.js';
import { waitFor } from '../helpers/wait-for.js';

const endpoint = inject('etcdEndpoint');
const clients: Array<{ close(): void }> = [];
afterAll(() => clients.forEach((c) => c.close()));

/**
 * An engine client counting the listings of networks that each sync starts with (the engine is
 * read first, etcd after), and how many of them the engine answered.
 */
function countingEngine(socket: string): { engine: EngineClient; syncs: () => number; answered: () => number } {
  const engine = new EngineClient(`unix://${socket}`);
  let syncs = 0;
  let answered = 0;
  const listNetworks = engine.listNetworks.bind(engine);
  engine.listNetworks = async (...args) => {
    syncs++;
    const networks = await listNetworks(...args);
    answered++;
    return networks;
  };
  return { engine, syncs: () => syncs, answered: () => answered };
}

function store(): ClusterStore {
  const { kv, store } = freshStore(endpoint);
  clients.push(kv);
  return store;
}

describe('network propagation while the engine is away (real etcd)', () => {
  it('retries every 2 s, once, however many changes came while its syncs failed', async () => {
    const { engine, syncs: listings } = countingEngine('/nonexistent/ts-overlay-test/docker.sock');
    const propagation = new Propagation('ts-overlay', engine, store(), silentLogger);
    await propagation.start();
    // Forty network events in 0.4 s (as etcd's watch or the engine's stream would bring them),
    // each asking for a sync that fails: the engine cannot be reached.
    for (let i = 0; i < 40; i++) {
      propagation.schedule();
      await sleep(10);
    }
    const afterEvents = listings();
    await sleep(5000);
    const retries = listings() - afterEvents;
    await propagation.stop();
    // One retry pending at a time: at 2 s and 4 s (a third if the first came late in the
    // events). Each failed sync used to arm a retry of its own: about 40 syncs a second here.
    // At least one: a late retry on a busy machine must not fail the test.
    expect(retries).toBeGreaterThanOrEqual(1);
    expect(retries).toBeLessThanOrEqual(3);
    const stopped = listings();
    await sleep(2500);
    expect(listings()).toBe(stopped); // none after stop()
  }, 15_000);

  it('drops the pending retry once a sync works again', async () => {
    const socket = `/tmp/tso-propagation-${process.pid}-engine.sock`;
    const engine = new FakeEngine(socket);
    const { engine: client, syncs, answered } = countingEngine(socket);
    const propagation = new Propagation('ts-overlay', client, store(), silentLogger);
    await propagation.start(); // its first sync fails (no engine yet) and arms a retry for 2 s later
    const armedAt = Date.now();
    expect(answered()).toBe(0);
    await sleep(200);
    await engine.start();
    try {
      // The engine is back: its event stream reconnects (within about a second) and that asks
      // for a sync, which works.
      await waitFor('a sync that works', async () => answered() > 0, 5000);
      const afterWorking = syncs();
      await sleep(Math.max(1000, armedAt + 3000 - Date.now())); // past the retry's 2 s
      // Nothing failed since: the retry, had it stayed armed, would have synced once more.
      // (On a machine so slow that the stream came back after 2 s, the working sync was the
      // retry's, and this shows only that nothing came after it.)
      expect(syncs()).toBe(afterWorking);
    } finally {
      await propagation.stop();
      await engine.stop();
    }
  }, 15_000);
});

