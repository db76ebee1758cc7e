import { randomUUID } from 'node:crypto';
import { afterAll, describe, expect, inject, it } from 'vitest';
import type { CryptoTunnel, TunnelKeys } from '../../src/dataplane/crypto-tunnel.js';
import type { TunnelRules } from '../../src/dataplane/tunnel-rules.js';
import { EncryptionKeeper } from '../../src/driver/encryption.js';
import { firstKeySet, nextRotationStep } from '../../src/driver/key-schedule.js';
import { silentLogger } from '../../src/lib/logger.js';
import { freshStore } from '../helpers/store.js';

const endpoint = inject('etcdEndpoint');
const clients: Array<{ close(): void }> = [];
afterAll(() => clients.forEach((c) => c.close()));
/** `n` hosts' stores on one cluster (one prefix). */
function cluster(n: number) {
  const prefix = `/test-${randomUUID()}/`;
  return Array.from({ length: n }, () => {
    const s = freshStore(endpoint, prefix);
    clients.push(s.kv);
    return s.store;
  });
}

describe('encryption keys in etcd', () => {
  it('are created once when several hosts need them at the same moment', async () => {
    const hosts = cluster(5);
    const won = await Promise.all(hosts.map((s) => s.createKeySet(firstKeySet(new Date()))));
    expect(won.filter(Boolean)).toHaveLength(1);
    const seen = await Promise.all(hosts.map(async (s) => (await s.getKeySet()).entry!.value.keys[0]!.secret));
    expect(new Set(seen).size).toBe(1);
  });

  it('take each rotation step from exactly one host when all try it at once', async () => {
    const hosts = cluster(5);
    const start = new Date(Date.UTC(2026, 0, 1));
    await hosts[0]!.createKeySet(firstKeySet(start));
    const timing = { intervalMs: 100_000, graceMs: 20_000 };
    for (const [at, step] of [[100, 'add'], [120, 'promote'], [140, 'retire']] as const) {
      const entries = await Promise.all(hosts.map(async (s) => (await s.getKeySet()).entry!));
      const now = new Date(start.getTime() + at * 1000);
      const tries = entries.map((e) => nextRotationStep(e.value, now, timing)!);
      expect(tries.every((t) => t.step === step)).toBe(true);
      const won = await Promise.all(hosts.map((s, i) => s.replaceKeySet(tries[i]!.next, entries[i]!.modRevision)));
      expect(won.filter(Boolean), step).toHaveLength(1);
    }
    const final = (await hosts[0]!.getKeySet()).entry!.value;
    expect(final.keys.map((k) => k.id)).toEqual([2]);
    expect(final.primary).toBe(2);
  });

  it('rotate under keepers on several hosts so that no host seals with a key another does not hold yet', async () => {
    const hosts = cluster(3);
    // The schedule is safe when the grace covers the slowest host's lag (the defaults here);
    // TSO_TEST_GRACE_MS=0 TSO_TEST_LAG_MS=1500 shows the check failing when it does not.
    const LAG_MS = Number(process.env.TSO_TEST_LAG_MS ?? 300);
    const timing = { intervalMs: 1500, graceMs: Number(process.env.TSO_TEST_GRACE_MS ?? 800) };
    // What each host's tunnel was told, when (the kernel side is tested in test/netns).
    const log: Array<{ host: number; at: number; keys: number[]; primary: number }> = [];
    const keepers = hosts.map((store, host) => {
      const tunnel = {
        running: false,
        async update(k: TunnelKeys) {
          // Host 2 is slow to apply keys (a loaded machine): the grace must cover it.
          if (host === 2) await new Promise((r) => setTimeout(r, LAG_MS));
          log.push({ host, at: performance.now(), keys: k.keys.map((x) => x.id), primary: k.primary });
          return new Map<string, number>();
        },
        async stop() {},
      } as unknown as CryptoTunnel;
      const rules = { apply: async () => 0, remove: async () => 0 } as unknown as TunnelRules;
      return new EncryptionKeeper(store, tunnel, rules, { encryptedHere: () => true, peers: () => [] }, timing, silentLogger);
    });
    for (const k of keepers) await k.start();
    await Promise.all(keepers.map((k) => k.run()));
    await new Promise((r) => setTimeout(r, 6000));
    for (const k of keepers) await k.stop();

    const primaries = new Set(log.map((l) => l.primary));
    expect(Math.max(...primaries), 'at least one rotation').toBeGreaterThanOrEqual(2);
    // Safety: when a host first seals with key p, every other host already holds p.
    for (const [i, entry] of log.entries()) {
      const firstUse = log.findIndex((l) => l.host === entry.host && l.primary === entry.primary) === i;
      if (!firstUse || entry.primary === 1) continue;
      for (let other = 0; other < hosts.length; other++) {
        if (other === entry.host) continue;
        const held = log.some((l) => l.host === other && l.at <= entry.at && l.keys.includes(entry.primary));
        expect(held, `host ${other} held key ${entry.primary} before host ${entry.host} sealed with it`).toBe(true);
      }
    }
    // And no host retires a key while another may still seal with it.
    for (const entry of log) {
      for (const retired of [...primaries].filter((p) => p < entry.primary && !entry.keys.includes(p))) {
        const stillSealing = log.filter((l) => l.host !== entry.host && l.at <= entry.at).reduce<Record<number, number>>((acc, l) => ({ ...acc, [l.host]: l.primary }), {});
        expect(Object.values(stillSealing)).not.toContain(retired);
      }
    }
  }, 20_000);

  it('clear the tunnel and its rules once while no network here is encrypted, and again after one was', async () => {
    const [store] = cluster(1);
    let encrypted = false;
    let removals = 0;
    let updates = 0;
    const tunnel = { running: false, async update() { updates++; return new Map<string, number>(); }, async stop() {} } as unknown as CryptoTunnel;
    const rules = { apply: async () => 0, remove: async () => { removals++; return 0; } } as unknown as TunnelRules;
    const keeper = new EncryptionKeeper(store!, tunnel, rules, { encryptedHere: () => encrypted, peers: () => [] }, { intervalMs: 60_000, graceMs: 10_000 }, silentLogger);
    await keeper.start();
    for (let i = 0; i < 3; i++) await keeper.run();
    expect(removals, 'the first pass clears what a previous life may have left; later ones have nothing to do').toBe(1);
    encrypted = true;
    await keeper.run();
    expect(updates).toBeGreaterThanOrEqual(1);
    encrypted = false;
    for (let i = 0; i < 3; i++) await keeper.run();
    expect(removals, 'cleared again once the last encrypted network went').toBe(2);
    await keeper.stop();
  });

  it('drop the retry of a failed pass once a pass in between worked', async () => {
    const [store] = cluster(1);
    let updates = 0;
    let failNext = true;
    const tunnel = {
      running: false,
      async update() {
        updates++;
        if (failNext) {
          failNext = false;
          throw new Error('the tunnel could not start (the test)');
        }
        return new Map<string, number>();
      },
      async stop() {},
    } as unknown as CryptoTunnel;
    const rules = { apply: async () => 0, remove: async () => 0 } as unknown as TunnelRules;
    // A grace this long keeps the rotation timer (a quarter of it, at most 30 s) out of the wait below.
    const keeper = new EncryptionKeeper(store!, tunnel, rules, { encryptedHere: () => true, peers: () => [] }, { intervalMs: 600_000, graceMs: 200_000 }, silentLogger);
    await keeper.start();
    // The first pass fails and arms a retry; the next one (asked for by the start or an event) works.
    while (updates < 2) await keeper.run();
    // The key set the first pass made comes back through the watch and asks for one more pass:
    // let it run, well before the retry (2 s after the failure) would.
    await new Promise((r) => setTimeout(r, 300));
    const afterWorking = updates;
    await new Promise((r) => setTimeout(r, 2200));
    expect(updates, 'nothing left for the retry to do').toBe(afterWorking);
    await keeper.stop();
  }, 10_000);
});

