import { afterEach, describe, expect, it, vi } from 'vitest';
import { Membership } from '../../src/driver/membership.js';
import { silentLogger } from '../../src/lib/logger.js';
import type { WatchHandlers } from '../../src/store/etcd-kv.js';
import type { ClusterStore } from '../../src/store/cluster-store.js';
import type { NodeRecord } from '../../src/store/records.js';

const node = (name: string): NodeRecord => ({ name, vtep: '198.18.0.1' }) as NodeRecord;

/** The three calls Membership makes of the store, over a node list the test changes. */
function fakeStore(listed: NodeRecord[]) {
  let handlers: WatchHandlers | undefined;
  const store = {
    registerNode: async () => ({ release: () => undefined }),
    listNodesAt: async () => ({ nodes: [...listed], revision: 1 }),
    watchNodes: (_from: number, h: WatchHandlers) => {
      handlers = h;
      return { close: async () => undefined };
    },
  } as unknown as ClusterStore;
  return { store, resync: () => handlers!.onResync() };
}

afterEach(() => {
  vi.useRealTimers();
});

describe('Membership after a watch resync', () => {
  it('counts a node that vanished from the listing as missing from the resync on, not from the process start', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(new Date('2026-01-01T00:00:00Z'));
    const listed = [node('h1'), node('h2')];
    const { store, resync } = fakeStore(listed);
    let changed = 0;
    const membership = new Membership(node('h1'), 10, store, { onChange: () => changed++, onReregistered: () => undefined }, silentLogger);
    await membership.start();
    expect(membership.isAlive('h2')).toBe(true);

    // An hour later the watch loses its place; meanwhile h2's record went.
    vi.setSystemTime(new Date('2026-01-01T01:00:00Z'));
    const before = changed;
    listed.pop();
    resync();
    await vi.waitFor(() => expect(changed).toBeGreaterThan(before));
    expect(membership.isAlive('h2')).toBe(false);
    // Missing for moments, not the hour since the process started (the old reading).
    expect(membership.absentFor('h2')).toBeLessThan(5_000);
    // A full TTL later it counts as gone that long.
    vi.setSystemTime(Date.now() + 10_000);
    expect(membership.absentFor('h2')).toBeGreaterThanOrEqual(10_000);
    expect(membership.absentFor('h2')).toBeLessThan(15_000);
    await membership.stop();
  });
});
