import { spawn } from 'node:child_process';
import { beforeAll, describe, expect, it } from 'vitest';
import { Dataplane } from '../../src/dataplane/dataplane.js';
import { Runner } from '../../src/dataplane/runner.js';
import { checkKernelVxlan } from '../../src/doctor/kernel-vxlan.js';
import { checkPeerRoutes } from '../../src/doctor/peer-routes.js';
import { checkUnderlayMtu } from '../../src/doctor/underlay-mtu.js';
import { checkVxlanPort } from '../../src/doctor/vxlan-port.js';
import { makeNetns, removeLeftoverNamespaces, underlayPair } from '../helpers/netns.js';

beforeAll(() => removeLeftoverNamespaces());

/** The doctor's kernel checks, each against a throwaway namespace broken the way it should notice. */
describe('doctor on real kernel state', () => {
  it('creates and deletes a throwaway VXLAN device, leaving nothing', async () => {
    await using host = makeNetns('doc');
    const r = await checkKernelVxlan(new Runner(host.name), 4789);
    expect(r).toMatchObject({ ok: true, detail: expect.stringMatching(/^created and deleted a VXLAN device with a macvlan on it \(tsdoc-[0-9a-f]{6}, VNI \d+, UDP 4789\)$/) });
    expect(host.exec('ip', '-br', 'link')).not.toContain('tsdoc-');
  });

  it('fails the underlay MTU when a network\'s MTU + 50 does not fit, and passes once it does', async () => {
    await using a = makeNetns('doc');
    await using b = makeNetns('doc');
    const { vtepA } = underlayPair(a, b);
    const run = new Runner(a.name);
    await new Dataplane(run, { vtep: vtepA, port: 4789 }).ensureNetwork({ vni: 4096, mtu: 1450 });
    a.exec('ip', 'link', 'set', 'ul0', 'mtu', '1400');
    const broken = await checkUnderlayMtu(run, vtepA, [{ name: 'life', vni: 4096 }]);
    expect(broken.ok).toBe(false);
    expect(broken.detail).toBe('ul0 (198.18.200.1) has MTU 1400, but life (VNI 4096) uses MTU 1450: VXLAN packets of full-size frames would be 1500 bytes and get dropped');
    expect(broken.fix).toContain('ip link set dev ul0 mtu 1500');
    // Without etcd's list, the VXLAN device alone still shows the need.
    expect((await checkUnderlayMtu(run, vtepA, undefined)).detail).toContain('tsvx-4096 (VNI 4096) uses MTU 1450');

    a.exec('ip', 'link', 'set', 'ul0', 'mtu', '1500');
    expect(await checkUnderlayMtu(run, vtepA, [{ name: 'life', vni: 4096 }])).toMatchObject({ ok: true });
    expect((await checkUnderlayMtu(run, '198.18.200.77', [])).detail).toMatch(/no interface here holds the advertise address 198\.18\.200\.77/);
  });

  it('finds a route to each peer VTEP and names what blocks one', async () => {
    await using a = makeNetns('doc');
    await using b = makeNetns('doc');
    const { vtepA, vtepB } = underlayPair(a, b);
    const run = new Runner(a.name);
    const self = { name: 'a', vtep: vtepA };
    const peers = [{ name: 'a', vtep: vtepA }, { name: 'b', vtep: vtepB }];
    expect(await checkPeerRoutes(run, self, peers)).toEqual({ name: 'routes to peers', ok: true, detail: 'b 198.18.200.2 via ul0' });

    a.exec('ip', 'route', 'add', 'blackhole', `${vtepB}/32`);
    const blocked = await checkPeerRoutes(run, self, peers);
    expect(blocked.ok).toBe(false);
    expect(blocked.detail).toBe('no usable route to b (198.18.200.2): a blackhole route covers it');
    expect(blocked.fix).toContain(`ip route show match ${vtepB}`);
    a.exec('ip', 'route', 'replace', 'prohibit', `${vtepB}/32`);
    expect((await checkPeerRoutes(run, self, peers)).detail).toContain('a prohibit route covers it');
    a.exec('ip', 'route', 'del', `${vtepB}/32`);

    // No default route in the namespace: a VTEP off the underlay's subnet has no route at all.
    expect((await checkPeerRoutes(run, self, [...peers, { name: 'c', vtep: '198.18.201.5' }])).detail).toBe('no usable route to c (198.18.201.5): no route leads there');
    expect((await checkPeerRoutes(run, self, [{ name: 'twin', vtep: vtepA }])).detail).toBe(`no usable route to twin (${vtepA}): it has this host's own VTEP`);
  });

  it('sees the kernel\'s VXLAN socket, a program holding the port, and a foreign device on our VNI', async () => {
    await using a = makeNetns('doc');
    await using b = makeNetns('doc');
    const { vtepA } = underlayPair(a, b);
    const run = new Runner(a.name);
    expect(await checkVxlanPort(run, 4789, new Map())).toMatchObject({ ok: true, detail: expect.stringContaining('is free') });
    await new Dataplane(run, { vtep: vtepA, port: 4789 }).ensureNetwork({ vni: 4096, mtu: 1450 });
    expect(await checkVxlanPort(run, 4789, new Map([[4096, 'life']]))).toMatchObject({ ok: true, detail: 'UDP 4789 is bound by the kernel for 1 ts-overlay VXLAN device(s)' });

    a.exec('ip', 'link', 'add', 'vxf', 'type', 'vxlan', 'id', '5000', 'dstport', '4789', 'local', vtepA);
    expect((await checkVxlanPort(run, 4789, new Map([[4096, 'life'], [5000, 'web']]))).detail).toBe("vxf (not ts-overlay's) uses VNI 5000 on UDP 4789, which network web needs");

    // A program on the port (here on 4790, which our devices are then told to use).
    const squatter = spawn('ip', ['netns', 'exec', a.name, process.execPath, '-e', "require('dgram').createSocket('udp4').bind(4790, () => console.log('bound')); setInterval(() => {}, 1000)"], { stdio: ['ignore', 'pipe', 'ignore'] });
    try {
      await new Promise((resolve) => squatter.stdout!.once('data', resolve));
      const held = await checkVxlanPort(run, 4790, new Map());
      expect(held.ok).toBe(false);
      expect(held.detail).toBe(`UDP 4790 is held by node (pid ${squatter.pid}): VXLAN devices cannot receive there`);
    } finally {
      squatter.kill('SIGKILL');
    }
  });
});
