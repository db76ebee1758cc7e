import { beforeAll, describe, expect, it } from 'vitest';
import { KernelMonitor } from '../../src/dataplane/monitor.js';
import { waitFor } from '../helpers/lab.js';
import { makeNetns, removeLeftoverNamespaces, sh } from '../helpers/netns.js';

beforeAll(() => removeLeftoverNamespaces());

const WANTED = '02:42:0a:00:00:02';
const UNWANTED = '02:42:0a:00:00:03';
const VTEP = '198.18.201.2';
const CANARY = '02:42:0a:00:00:04';

describe('the kernel monitor', () => {
  it('reports a deleted FDB entry the device must hold as drift, not one the plugin no longer wants (its own deletion)', async () => {
    await using ns = makeNetns('mon');
    const ip = (...args: string[]) => sh('ip', ['-n', ns.name, ...args]);
    const bridge = (...args: string[]) => sh('bridge', ['-n', ns.name, ...args]);
    ip('link', 'add', 'tsvx-4100', 'type', 'vxlan', 'id', '4100', 'dstport', '4789', 'nolearning');
    ip('link', 'set', 'tsvx-4100', 'up');
    for (const mac of [WANTED, UNWANTED]) bridge('fdb', 'append', mac, 'dev', 'tsvx-4100', 'dst', VTEP, 'self', 'permanent');
    const asked: Array<[number, string, string]> = [];
    const drift: string[] = [];
    let canarySeen = false;
    const monitor = new KernelMonitor(ns.name, (what) => drift.push(what), () => undefined, 50, (vni, mac, dst) => {
      if (mac === CANARY) {
        canarySeen = true;
        return false; // not wanted: no drift; kept out of `asked`, which a late canary would spoil
      }
      asked.push([vni, mac, dst]);
      return mac === WANTED;
    });
    monitor.start();
    try {
      // The FDB monitor is listening once it sees a deletion: a canary entry, added and deleted
      // until one is asked about (a fixed pause would guess how long starting `bridge` takes).
      await waitFor('the monitor listening', async () => {
        bridge('fdb', 'append', CANARY, 'dev', 'tsvx-4100', 'dst', VTEP, 'self', 'permanent');
        bridge('fdb', 'del', CANARY, 'dev', 'tsvx-4100', 'dst', VTEP, 'self');
        await new Promise((r) => setTimeout(r, 100));
        return canarySeen;
      }, 10_000, 0);
      bridge('fdb', 'del', UNWANTED, 'dev', 'tsvx-4100', 'dst', VTEP, 'self');
      await waitFor('the monitor asked about the unwanted entry', async () => asked.length > 0);
      await new Promise((r) => setTimeout(r, 300)); // past the debounce: nothing reported
      expect(asked).toEqual([[4100, UNWANTED, VTEP]]);
      expect(drift).toEqual([]);
      bridge('fdb', 'del', WANTED, 'dev', 'tsvx-4100', 'dst', VTEP, 'self');
      await waitFor('the deleted entry reported as drift', async () => drift.length === 1);
      expect(drift).toEqual([`${WANTED} tsvx-4100`]);
    } finally {
      monitor.stop();
    }
  });
});
