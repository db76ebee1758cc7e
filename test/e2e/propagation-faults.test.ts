import { beforeAll, describe, expect, it } from 'vitest';
import { CRASH_ENV, type CrashPoint } from '../../src/lib/crash-point.js';
import { docker, dockerOk, etcdctl, inHost, lab, labWithEnv, pluginLog, resetLab, runBusybox, waitFor } from '../helpers/lab.js';

/**
 * Issue 6, part 3, with real engines: propagation (src/driver/propagation.ts) copies a network
 * to the other host through that host's engine API, and the engine then calls the plugin back
 * (RequestPool with the cluster ID, RequestAddress, CreateNetwork). A plugin killed at each
 * step of that, on the host that publishes the name or on the host that makes the copy, must
 * after its restart end with exactly one working copy on every host, no copy record the engine
 * does not have, and nothing left once the network is removed.
 */
const CASES: ReadonlyArray<{ point: CrashPoint; host: number }> = [
  { point: 'propagation.name-published', host: 1 },
  { point: 'propagation.copy-requested', host: 2 },
  { point: 'ipam.pool-joined', host: 2 },
  { point: 'create-network.copy-recorded', host: 2 },
  { point: 'propagation.copy-created', host: 2 },
];

const keys = async (prefix: string) => (await etcdctl('get', '--prefix', `/ts-overlay/${prefix}`, '--keys-only')).stdout.split('\n').filter(Boolean);
const engineNetworkIds = async (host: number, name: string) =>
  (await dockerOk(host, 'network', 'ls', '--filter', `name=^${name}$`, '--format', '{{.ID}}')).split('\n').filter(Boolean);

beforeAll(async () => {
  await resetLab();
});

describe('propagation with the plugin killed at each step', () => {
  CASES.forEach(({ point, host }, i) => {
    it(`${point} on h${host}`, async () => {
      const name = `pf${i}`;
      const logBefore = pluginLog(host).length;
      expect((await lab('plugin-stop', String(host))).ok).toBe(true);
      expect((await labWithEnv({ [CRASH_ENV]: point }, 'plugin-start', String(host))).ok).toBe(true);

      // Created on host 1; when host 1 is the one killed, the creation itself may already fail
      // or succeed (the name is published after the engine has the network).
      await docker(1, 'network', 'create', '-d', 'ts-overlay', '--ipam-driver', 'ts-overlay', name);
      await waitFor(`h${host}'s plugin to die at ${point}`, async () => pluginLog(host).slice(logBefore).includes(`crashing at ${point}`), 30_000, 200);
      await lab('plugin-kill', String(host)); // it killed itself; this only makes sure
      expect((await lab('plugin-start', String(host))).ok).toBe(true);

      // Exactly one copy on each host, recorded in etcd, and usable.
      await waitFor(`${name} once on both hosts`, async () => (await engineNetworkIds(1, name)).length === 1 && (await engineNetworkIds(2, name)).length === 1, 40_000, 250);
      await waitFor('one copy record per host, naming the engine networks', async () => {
        const copies = await keys('copies/');
        for (const h of [1, 2]) {
          const ids = await engineNetworkIds(h, name);
          const mine = copies.filter((k) => k.startsWith(`/ts-overlay/copies/h${h}/`));
          // `docker network ls` shows IDs shortened to 12 characters.
          if (mine.length !== 1 || ids.length !== 1 || !mine[0]!.split('/').pop()!.startsWith(ids[0]!)) return false;
        }
        return true;
      }, 30_000, 250);
      await runBusybox(2, `${name}c`, '--net', name);
      await runBusybox(1, `${name}d`, '--net', name);
      const ip2 = await dockerOk(2, 'inspect', '-f', `{{(index .NetworkSettings.Networks "${name}").IPAddress}}`, `${name}c`);
      expect((await docker(1, 'exec', `${name}d`, 'ping', '-c', '1', '-W', '2', ip2)).ok).toBe(true);

      // Removing it leaves nothing: no network, pool, address, VNI, copy or endpoint key, no devices.
      await docker(1, 'rm', '-f', `${name}d`);
      await docker(2, 'rm', '-f', `${name}c`);
      await dockerOk(1, 'network', 'rm', name);
      await waitFor(`${name} gone from host 2`, async () => (await engineNetworkIds(2, name)).length === 0, 30_000, 250);
      await waitFor('no state left in etcd', async () => {
        for (const p of ['networks/', 'pools/', 'addresses/', 'vnis/', 'copies/', 'endpoints/']) if ((await keys(p)).length > 0) return false;
        return true;
      }, 30_000, 250);
      for (const h of [1, 2]) expect((await inHost(h, 'ip', '-br', 'link')).stdout, `h${h} links`).not.toMatch(/ts(br|vx|v|c)-/);
    }, 180_000);
  });
});
