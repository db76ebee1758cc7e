import { afterAll, describe, expect, inject, it } from 'vitest';
import { EngineClient } from '../../src/docker/engine-client.js';
import { Propagation } from '../../src/driver/propagation.js';
import { silentLogger } from '../../src/lib/logger.js';
import { sleep } from '../../src/lib/retry.js';
import type { ClusterStore } from '../../src/store/cluster-store.js';
import { FakeEngine } from '../helpers/fake-engine.js';
import { freshStore } from '../helpers/store.js';

const endpoint = inject('etcdEndpoint');
const clients: Array<{ close(): void }> = [];
afterAll(() => clients.forEach((c) => c.close()));

/** The store on real etcd, counting the listings of networks that each sync starts with. */
function countingStore(): { store: ClusterStore; listings: () => number } {
  const { kv, store } = freshStore(endpoint);
  clients.push(kv);
  let listings = 0;
  const listNetworks = store.listNetworks.bind(store);
  store.listNetworks = () => {
    listings++;
    return listNetworks();
  };
  return { store, listings: () => listings };
}

describe('network propagation while the engine is away (real etcd)', () => {
  it('retries every 2 s, once, however many changes came while its syncs failed', async () => {
    const { store, listings } = countingStore();
    const engine = new EngineClient('unix:///nonexistent/ts-overlay-test/docker.sock');
    const propagation = new Propagation('ts-overlay', engine, store, silentLogger);
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
    expect(retries).toBeGreaterThanOrEqual(2);
    expect(retries).toBeLessThanOrEqual(3);
    const stopped = listings();
    await sleep(2500);
    expect(listings()).toBe(stopped); // none after stop()
  }, 15_000);

  it('drops the pending retry once a sync works again', async () => {
    const { store, listings } = countingStore();
    const socket = `/tmp/tso-propagation-${process.pid}-engine.sock`;
    const engine = new FakeEngine(socket);
    const propagation = new Propagation('ts-overlay', new EngineClient(`unix://${socket}`), store, silentLogger);
    await propagation.start(); // its first sync fails (no engine yet) and arms a retry for 2 s later
    await sleep(200);
    const beforeEngine = listings();
    await engine.start();
    try {
      // The engine is back: its event stream reconnects (within about a second) and that asks
      // for a sync, which works.
      await sleep(1500);
      const afterWorking = listings();
      expect(afterWorking).toBeGreaterThan(beforeEngine);
      await sleep(1500); // past the retry's 2 s
      // Nothing failed since: the retry, had it stayed armed, would have synced once more.
      expect(listings()).toBe(afterWorking);
    } finally {
      await propagation.stop();
      await engine.stop();
    }
  }, 15_000);
});

