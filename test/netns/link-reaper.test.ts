import { beforeAll, describe, expect, it } from 'vitest';
import { DELETION_GROUP } from '../../src/dataplane/link-reaper.js';
import { Runner } from '../../src/dataplane/runner.js';
import { makeNetns, type Netns, removeLeftoverNamespaces, sh } from '../helpers/netns.js';

beforeAll(() => removeLeftoverNamespaces());

interface Link { ifname: string; group?: string }
/** The namespace's links with their groups, read with ip itself rather than through the code under test. */
const links = (ns: Netns) => new Map((JSON.parse(sh('ip', ['-n', ns.name, '-d', '-j', 'link', 'show'])) as Link[]).map((x) => [x.ifname, x]));

/** A VXLAN device with `count` macvlans on it (m0, m1, ...), as a network with its endpoints' interfaces. */
function deviceWithPorts(ns: Netns, count: number): string[] {
  sh('ip', ['-n', ns.name, 'link', 'add', 'tsvx-77', 'type', 'vxlan', 'id', '77', 'dstport', '4789', 'nolearning']);
  const names = Array.from({ length: count }, (_, i) => `m${i}`);
  sh('ip', ['-n', ns.name, '-batch', '-'], names.map((n) => `link add ${n} link tsvx-77 type macvlan mode bridge`).join('\n') + '\n');
  return names;
}

describe('deleting interfaces together (Runner.deleteLinks)', () => {
  it('deletes names asked for in many calls at once, counts absent names as no failure, and leaves every other device and no group behind', async () => {
    await using ns = makeNetns('reap');
    const names = deviceWithPorts(ns, 40);
    // A device of someone else in the same namespace, in a group of its own: it must survive.
    sh('ip', ['-n', ns.name, 'link', 'add', 'other0', 'link', 'tsvx-77', 'type', 'macvlan', 'mode', 'bridge']);
    sh('ip', ['-n', ns.name, 'link', 'set', 'other0', 'group', '7']);
    const run = new Runner(ns.name);
    try {
      // Ten callers in one turn (as DeleteEndpoints read together), one with a name never made.
      const calls = Array.from({ length: 10 }, (_, k) => run.deleteLinks(names.slice(k * 4, k * 4 + 4)));
      calls.push(run.deleteLinks(['tsc-nosuchport']));
      const failures = await Promise.all(calls);
      expect(failures.map((f) => [...f])).toEqual(calls.map(() => []));
      const left = links(ns);
      expect(names.filter((n) => left.has(n))).toEqual([]);
      expect([...left.keys()].sort()).toEqual(['lo', 'other0', 'tsvx-77']);
      expect(left.get('other0')!.group).toBe('7');
      // Later calls still work (nothing of ours left in the group to block them).
      sh('ip', ['-n', ns.name, 'link', 'add', 'm99', 'link', 'tsvx-77', 'type', 'macvlan', 'mode', 'bridge']);
      expect([...(await run.deleteLinks(['m99']))]).toEqual([]);
      expect(links(ns).has('m99')).toBe(false);
    } finally {
      run.close();
    }
  });

  it('reports a device the kernel will not delete, and still deletes the others asked for with it, leaving that one in its old group', async () => {
    await using ns = makeNetns('reap');
    const names = deviceWithPorts(ns, 3);
    const run = new Runner(ns.name);
    try {
      // Loopback cannot be deleted: in the group it makes the kernel refuse the whole group.
      const [withLo, others] = await Promise.all([run.deleteLinks(['lo', names[0]!]), run.deleteLinks(names.slice(1))]);
      expect([...withLo.keys()]).toEqual(['lo']);
      expect(withLo.get('lo')).toMatch(/not supported|Operation/i);
      expect([...others]).toEqual([]);
      const left = links(ns);
      expect(names.filter((n) => left.has(n))).toEqual([]);
      expect(left.get('lo')!.group).toBe('default');
      expect([...left.values()].filter((l) => l.group === String(DELETION_GROUP))).toEqual([]);
    } finally {
      run.close();
    }
  });

  it("answers a caller none of whose names is here before the others' devices are deleted (a Leave while the interface is in its container)", async () => {
    await using ns = makeNetns('reap');
    const names = deviceWithPorts(ns, 20);
    const run = new Runner(ns.name);
    try {
      const answered: string[] = [];
      // Asked first, in the same turn: with one answer for the whole request, it came first.
      const deleting = run.deleteLinks(names).then((f) => {
        answered.push('devices');
        return f;
      });
      const absent = run.deleteLinks(['tsc-inacontainer']).then((f) => {
        answered.push('absent');
        return f;
      });
      expect([...(await absent)]).toEqual([]);
      expect([...(await deleting)]).toEqual([]);
      expect(answered).toEqual(['absent', 'devices']);
      expect(names.filter((n) => links(ns).has(n))).toEqual([]);
    } finally {
      run.close();
    }
  });
});
