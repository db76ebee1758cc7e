import { beforeAll, describe, expect, it } from 'vitest';
import { BatchSession, IDLE_CLOSE_MS } from '../../src/dataplane/batch-session.js';
import { Runner } from '../../src/dataplane/runner.js';
import { makeNetns, removeLeftoverNamespaces, sessionPids, sh } from '../helpers/netns.js';
import { waitFor } from '../helpers/wait-for.js';

beforeAll(() => removeLeftoverNamespaces());

const linkNames = (ns: string) => new Set((JSON.parse(sh('ip', ['-n', ns, '-j', 'link', 'show'])) as Array<{ ifname: string }>).map((l) => l.ifname));

describe('a long-lived ip/bridge batch session on real devices', () => {
  it('applies requests in order and tells each line of each request its own outcome', async () => {
    await using ns = makeNetns('bs');
    const session = new BatchSession('ip', ns.name);
    try {
      const [a, b] = await Promise.all([
        session.run(['link add tsbr-1 type bridge', 'link add tsbr-1 type bridge', 'link set tsbr-1 up']),
        session.run(['link del tsbr-nosuch', 'link add tsbr-2 type bridge']),
      ]);
      expect(a[0]).toBeUndefined();
      expect(a[1]).toMatch(/exists/i); // the second add of the same name
      expect(a[2]).toBeUndefined();
      expect(b[0]).toMatch(/Cannot find device "tsbr-nosuch"/);
      expect(b[1]).toBeUndefined();
      expect(linkNames(ns.name)).toEqual(new Set(['lo', 'tsbr-1', 'tsbr-2']));
    } finally {
      session.close();
    }
  });

  it('does not hang when a device has the name its end-of-request marker deletes', async () => {
    await using ns = makeNetns('bs');
    sh('ip', ['-n', ns.name, 'link', 'add', 'tso-nosuchdev', 'type', 'bridge']);
    const session = new BatchSession('ip', ns.name);
    try {
      // The first request's marker line deletes that device instead of failing; the second's
      // fails as usual, and its report ends both.
      const both = Promise.all([session.run(['link add tsbr-5 type bridge']), session.run(['link add tsbr-5 type bridge', 'link add tsbr-6 type bridge'])]);
      const outcome = await Promise.race([both, new Promise<'hung'>((r) => setTimeout(() => r('hung'), 5000))]);
      expect(outcome).toEqual([[undefined], [expect.stringMatching(/exists/i), undefined]]);
      expect(linkNames(ns.name)).toEqual(new Set(['lo', 'tsbr-5', 'tsbr-6']));
    } finally {
      session.close();
    }
  });

  it('sees a device deleted and made again under the same name (no stale name cache)', async () => {
    await using ns = makeNetns('bs');
    const session = new BatchSession('ip', ns.name);
    try {
      for (let i = 0; i < 3; i++) {
        expect(await session.run(['link add tsbr-9 type bridge', 'link add tsv-9 type veth peer name tsc-9', 'link set tsv-9 master tsbr-9 up'])).toEqual([undefined, undefined, undefined]);
        const master = JSON.parse(sh('ip', ['-n', ns.name, '-j', 'link', 'show', 'tsv-9'])) as Array<{ master?: string }>;
        expect(master[0]?.master).toBe('tsbr-9');
        expect(await session.run(['link del tsv-9', 'link del tsbr-9'])).toEqual([undefined, undefined]);
      }
      expect(linkNames(ns.name)).toEqual(new Set(['lo']));
    } finally {
      session.close();
    }
  });

  it('survives the tool exiting on a bad argument: that request fails whole, the ones queued behind it go through', async () => {
    await using ns = makeNetns('bs');
    const run = new Runner(ns.name);
    try {
      // `master` naming a missing device makes ip exit at once instead of reporting the line.
      const [failed, queued] = await Promise.all([
        run.batchReport('ip', ['link add tsbr-3 type bridge', 'link add tsv-3 type veth peer name tsc-3', 'link set tsv-3 master tsbr-missing']),
        run.batchReport('ip', ['link add tsbr-4 type bridge']),
      ]);
      expect([...failed]).toEqual([1, 2, 3]); // which of its lines were applied is unknown
      expect([...queued]).toEqual([]);
      expect(linkNames(ns.name)).toEqual(new Set(['lo', 'tsbr-3', 'tsbr-4', 'tsv-3', 'tsc-3']));
      await expect(run.batch('ip', ['link set tsv-3 master tsbr-missing'])).rejects.toThrow(/tsbr-missing.*Device does not exist/);
      // A new process serves the next request.
      expect([...(await run.batchReport('ip', ['link set tsv-3 master tsbr-3 up']))]).toEqual([]);
      await expect(run.batch('ip', ['link add tsbr-3 type bridge'])).rejects.toThrow(/link add tsbr-3 type bridge: .*exists/i);
    } finally {
      run.close();
    }
  });

  it('programs bridge fdb entries through a bridge session', async () => {
    await using ns = makeNetns('bs');
    const run = new Runner(ns.name);
    try {
      await run.batch('ip', ['link add tsvx-5 type vxlan id 5 dstport 4789 nolearning', 'link set tsvx-5 up']);
      await run.batch('bridge', ['fdb append 00:00:00:00:00:00 dev tsvx-5 dst 198.18.9.1', 'fdb replace 02:42:0a:00:00:09 dev tsvx-5 dst 198.18.9.1 self permanent']);
      const fdb = sh('bridge', ['-n', ns.name, 'fdb', 'show', 'dev', 'tsvx-5']);
      expect(fdb).toContain('02:42:0a:00:00:09 dst 198.18.9.1');
      expect(fdb).toContain('00:00:00:00:00:00 dst 198.18.9.1');
      await expect(run.batch('bridge', ['fdb replace 02:42:0a:00:00:0a dev tsvx-nosuch dst 198.18.9.1 self permanent'])).rejects.toThrow(/tsvx-nosuch/);
    } finally {
      run.close();
    }
  });

  it('programs neighbour entries through an ip session of its own, apart from the one that makes interfaces', async () => {
    await using ns = makeNetns('bs');
    const run = new Runner(ns.name);
    try {
      await run.batch('ip', ['link add tsvx-7 type vxlan id 7 dstport 4789 nolearning', 'link set tsvx-7 up']);
      const [links] = sessionPids('ip', ns.name);
      await run.batch('ip', ['neigh replace 10.9.0.7 lladdr 02:42:0a:09:00:07 dev tsvx-7 nud permanent']);
      // A process other than the one that made the links (which may have ended since, idle).
      const neighbours = sessionPids('ip', ns.name).filter((p) => p !== links);
      expect(links).toBeDefined();
      expect(neighbours).toHaveLength(1);
      await run.batch('ip', ['link add tsc-7 link tsvx-7 type macvlan mode bridge']);
      expect(sessionPids('ip', ns.name)).toContain(neighbours[0]);
      // Both kinds in one request would run in one process, in order: refused.
      await expect(run.batch('ip', ['link set tsc-7 up', 'neigh replace 10.9.0.8 lladdr 02:42:0a:09:00:08 dev tsvx-7 nud permanent'])).rejects.toThrow(/request of their own/);
      expect(sh('ip', ['-n', ns.name, 'neigh', 'show', 'dev', 'tsvx-7'])).toContain('10.9.0.7 lladdr 02:42:0a:09:00:07 PERMANENT');
      expect(sh('ip', ['-n', ns.name, 'neigh', 'show', 'dev', 'tsvx-7'])).not.toContain('10.9.0.8');
      expect(linkNames(ns.name)).toEqual(new Set(['lo', 'tsvx-7', 'tsc-7']));
    } finally {
      run.close();
    }
  });

  it('keeps the neighbour and FDB sessions through a quiet spell that ends the one making interfaces', async () => {
    await using ns = makeNetns('bs');
    const run = new Runner(ns.name);
    const pids = (tool: 'ip' | 'bridge') => sessionPids(tool, ns.name);
    try {
      await run.batch('ip', ['link add tsvx-8 type vxlan id 8 dstport 4789 nolearning', 'link set tsvx-8 up']);
      const [links] = pids('ip');
      await run.batch('ip', ['neigh replace 10.9.0.8 lladdr 02:42:0a:09:00:08 dev tsvx-8 nud permanent']);
      const neighbours = pids('ip').find((p) => p !== links);
      await run.batch('bridge', ['fdb replace 02:42:0a:09:00:08 dev tsvx-8 dst 198.18.9.8 self permanent']);
      const lastRequestAt = Date.now();
      const [fdb] = pids('bridge');
      expect([links, neighbours, fdb].every(Boolean)).toBe(true);
      // Well past the 2 s after which an idle session ends, counted from the last request: only
      // the sessions that list the namespace at their start are left.
      await new Promise((r) => setTimeout(r, Math.max(0, lastRequestAt + IDLE_CLOSE_MS + 1000 - Date.now())));
      // (Given a few seconds more to exit on a slow machine.)
      await waitFor('the idle session making interfaces to end', async () => pids('ip').length === 1, 5000);
      expect([pids('ip'), pids('bridge')]).toEqual([[neighbours], [fdb]]);
      // The kept process serves the next neighbour entry; the next interface gets a new process.
      await run.batch('ip', ['neigh replace 10.9.0.9 lladdr 02:42:0a:09:00:09 dev tsvx-8 nud permanent']);
      await run.batch('ip', ['link add tsc-8 link tsvx-8 type macvlan mode bridge']);
      expect(pids('ip')).toHaveLength(2);
      expect(pids('ip')).toContain(neighbours);
      expect(sh('ip', ['-n', ns.name, 'neigh', 'show', 'dev', 'tsvx-8'])).toContain('10.9.0.9 lladdr 02:42:0a:09:00:09 PERMANENT');
      expect(linkNames(ns.name)).toEqual(new Set(['lo', 'tsvx-8', 'tsc-8']));
    } finally {
      run.close();
    }
    await waitFor('the closed sessions to end', async () => pids('ip').length + pids('bridge').length === 0, 5000).catch(() => undefined);
    expect([pids('ip'), pids('bridge')]).toEqual([[], []]);
  });

  it('keeps programming a device that someone else deleted and made again under the same name', async () => {
    await using ns = makeNetns('bs');
    const run = new Runner(ns.name);
    const makeVxlan = () => {
      sh('ip', ['-n', ns.name, 'link', 'add', 'tsvx-6', 'type', 'vxlan', 'id', '6', 'dstport', '4789', 'nolearning']);
      sh('ip', ['-n', ns.name, 'link', 'set', 'tsvx-6', 'up']);
    };
    try {
      makeVxlan();
      await run.batch('bridge', ['fdb append 00:00:00:00:00:00 dev tsvx-6 dst 198.18.9.1']);
      await run.batch('ip', ['neigh replace 10.9.0.1 lladdr 02:42:0a:09:00:01 dev tsvx-6 nud permanent']);
      // Both tools now know tsvx-6 by its index. Another process re-makes it: a new index.
      sh('ip', ['-n', ns.name, 'link', 'del', 'tsvx-6']);
      makeVxlan();
      await run.batch('bridge', ['fdb append 00:00:00:00:00:00 dev tsvx-6 dst 198.18.9.2']);
      await run.batch('ip', ['neigh replace 10.9.0.2 lladdr 02:42:0a:09:00:02 dev tsvx-6 nud permanent']);
      expect(sh('bridge', ['-n', ns.name, 'fdb', 'show', 'dev', 'tsvx-6'])).toContain('dst 198.18.9.2');
      expect(sh('ip', ['-n', ns.name, 'neigh', 'show', 'dev', 'tsvx-6'])).toContain('10.9.0.2 lladdr 02:42:0a:09:00:02');
    } finally {
      run.close();
    }
  });
});
