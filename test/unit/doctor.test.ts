import { createServer, type Server } from 'node:http';
import { createServer as createNetServer } from 'node:net';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkClockSkew, judgeSkew, sampleDates, skewBounds } from '../../src/doctor/clock-skew.js';
import { checkEtcdMembers } from '../../src/doctor/etcd-members.js';
import { checkNodeRecord } from '../../src/doctor/node-record.js';
import { explainRouteError } from '../../src/doctor/peer-routes.js';
import { checkPluginSocket } from '../../src/doctor/plugin-socket.js';
import { formatDoctorReport } from '../../src/doctor/report.js';
import { networkMtus } from '../../src/doctor/underlay-mtu.js';
import { judgePort, parseSs, type PortFacts } from '../../src/doctor/vxlan-port.js';
import { silentLogger } from '../../src/lib/logger.js';
import { apiRoutes } from '../../src/protocol/routes.js';
import { PluginSocket } from '../../src/protocol/plugin-socket.js';
import { buildServer } from '../../src/protocol/server.js';
import type { NetworkDriver } from '../../src/driver/network-driver.js';
import type { IpamService } from '../../src/ipam/ipam-service.js';

/** An HTTP server on loopback standing in for an etcd member whose clock is `skewMs` off ours. */
async function fakeEtcd(skewMs: number): Promise<{ url: string; server: Server }> {
  const server = createServer((_req, res) => {
    res.sendDate = false;
    res.setHeader('Date', new Date(Date.now() + skewMs).toUTCString());
    res.setHeader('Content-Type', 'application/json');
    res.end('{"etcdserver":"3.4.23","etcdcluster":"3.4.0"}');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}

/** A loopback port nobody listens on (taken, then released). */
async function closedPort(): Promise<string> {
  const s = createNetServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as AddressInfo).port;
  await new Promise((r) => s.close(r));
  return `http://127.0.0.1:${port}`;
}

describe('clock skew', () => {
  it('bounds the skew from one sample by the Date header\'s second and the round trip', () => {
    // Sent at 10.000 s, answered at 10.020 s with Date 12 s: skew between +1.98 s and +3.0 s.
    expect(skewBounds([{ sentAt: 10_000, receivedAt: 10_020, serverDate: 12_000 }])).toEqual({ min: 1980, max: 3000 });
  });

  it('narrows to the polling gap across a tick of the server\'s second', () => {
    const bounds = skewBounds([
      { sentAt: 10_000, receivedAt: 10_002, serverDate: 10_000 }, // server still in second 10
      { sentAt: 10_040, receivedAt: 10_042, serverDate: 11_000 }, // server already in second 11
    ])!;
    // The server's second turned between 10.000 and 10.042 local: skew in [+0.958, +1.0] s.
    expect(bounds).toEqual({ min: 958, max: 1000 });
  });

  it('notices samples that contradict each other', () => {
    expect(skewBounds([
      { sentAt: 0, receivedAt: 10, serverDate: 0 },
      { sentAt: 20, receivedAt: 30, serverDate: 5000 },
    ])).toBeUndefined();
    expect(skewBounds([])).toBeUndefined();
  });

  it('fails only when the skew is beyond 1 s for certain', () => {
    expect(judgeSkew('e', { min: 950, max: 1050 }).ok).toBe(true);
    expect(judgeSkew('e', { min: 1010, max: 1050 })).toMatchObject({ ok: false, detail: expect.stringMatching(/1\.030 s behind etcd at e/) });
    expect(judgeSkew('e', { min: -2600, max: -2500 })).toMatchObject({ ok: false, detail: expect.stringMatching(/2\.550 s ahead of etcd/) });
  });

  describe('against HTTP servers with skewed clocks', () => {
    const servers: Server[] = [];
    afterAll(() => servers.forEach((s) => s.close()));

    it.each([0, 5000, -3000])('measures a skew of %i ms to within 0.1 s', async (skew) => {
      const etcd = await fakeEtcd(skew);
      servers.push(etcd.server);
      const bounds = skewBounds(await sampleDates(etcd.url))!;
      expect(bounds.min).toBeLessThanOrEqual(skew + 5);
      expect(bounds.max).toBeGreaterThanOrEqual(skew - 5);
      expect(bounds.max - bounds.min).toBeLessThan(200);
    });

    it('reports the worst member and skips one that does not answer', async () => {
      const good = await fakeEtcd(0);
      const bad = await fakeEtcd(4000);
      servers.push(good.server, bad.server);
      const result = await checkClockSkew([good.url, bad.url, await closedPort()]);
      expect(result.ok).toBe(false);
      expect(result.detail).toContain(bad.url);
      const none = await checkClockSkew([await closedPort()]);
      expect(none).toMatchObject({ ok: false, detail: expect.stringMatching(/^not measured: no etcd member answered .*ECONNREFUSED/) });
    });
  });
});

describe('etcd members', () => {
  let etcd: { url: string; server: Server };
  beforeAll(async () => (etcd = await fakeEtcd(0)));
  afterAll(() => void etcd.server.close());

  it('passes when every endpoint answers /version', async () => {
    expect(await checkEtcdMembers([etcd.url])).toEqual({ name: 'etcd members', ok: true, detail: '1/1 answered (etcd 3.4.23)' });
  });

  it('fails naming the member that does not answer', async () => {
    const down = await closedPort();
    const r = await checkEtcdMembers([etcd.url, down]);
    expect(r.ok).toBe(false);
    expect(r.detail).toBe(`${down}: ECONNREFUSED (1/2 answered)`);
  });
});

describe('node record', () => {
  const node = (name: string, vtep: string) => ({ name, vtep, version: '0.1.0', startedAt: '2026-01-01T00:00:00Z' });

  it('passes when this node is registered with this VTEP', () => {
    expect(checkNodeRecord([node('h2', '198.18.0.12'), node('h1', '198.18.0.11')], 'h1', '198.18.0.11')).toMatchObject({ ok: true, detail: 'h1 registered with VTEP 198.18.0.11, version 0.1.0; 2 node(s) alive: h1, h2' });
  });

  it('fails when it is missing, or registered with another VTEP', () => {
    expect(checkNodeRecord([node('h2', '198.18.0.12')], 'h1', '198.18.0.11')).toMatchObject({ ok: false, detail: 'no record for node h1 in etcd (1 node(s) alive: h2)' });
    expect(checkNodeRecord([node('h1', '198.18.0.99')], 'h1', '198.18.0.11').detail).toMatch(/registered with VTEP 198\.18\.0\.99, but this host's advertise address is 198\.18\.0\.11/);
  });
});

describe('underlay MTU needs', () => {
  it('takes the larger of -o mtu and the device MTU here, and skips networks with neither', () => {
    const devices = new Map([['tsvx-4096', 1450], ['tsvx-4098', 1400]]);
    expect(networkMtus([
      { name: 'a', vni: 4096 },
      { name: 'b', vni: 4097, mtu: 9000 },
      { name: 'c', vni: 4098, mtu: 1300 },
      { name: 'd', vni: 4099 },
    ], devices)).toEqual([
      { network: 'a', vni: 4096, mtu: 1450 },
      { network: 'b', vni: 4097, mtu: 9000 },
      { network: 'c', vni: 4098, mtu: 1400 },
    ]);
  });

  it('counts the tunnel\'s 40 bytes for an encrypted network', () => {
    expect(networkMtus([{ name: 'e', vni: 4100, mtu: 1410, encrypted: true }], new Map())).toEqual([{ network: 'e', vni: 4100, mtu: 1410, tunnel: 40 }]);
  });
});

describe('route errors', () => {
  it('names the kind of route behind each errno ip route get prints', () => {
    expect(explainRouteError('ip route get 198.18.0.11 failed: RTNETLINK answers: Invalid argument')).toBe('a blackhole route covers it');
    expect(explainRouteError('RTNETLINK answers: Permission denied')).toBe('a prohibit route covers it');
    expect(explainRouteError('RTNETLINK answers: No route to host')).toBe('an unreachable route covers it');
    expect(explainRouteError('RTNETLINK answers: Network is unreachable')).toBe('no route leads there');
  });
});

describe('VXLAN port', () => {
  const facts = (over: Partial<PortFacts>): PortFacts => ({ port: 4789, sockets: [], devices: [], clusterVnis: new Map([[4096, 'life']]), ...over });
  const kernelSocket = { local: '0.0.0.0:4789', holders: [] };

  it('reads who holds a socket from ss', () => {
    expect(parseSs('UNCONN 0      0      0.0.0.0:4789 0.0.0.0:*\nUNCONN 0 0 0.0.0.0:4789 0.0.0.0:* users:(("node",pid=3366,fd=18),("socat",pid=7,fd=3))\n')).toEqual([
      { local: '0.0.0.0:4789', holders: [] },
      { local: '0.0.0.0:4789', holders: ['node (pid 3366)', 'socat (pid 7)'] },
    ]);
  });

  it('passes with the kernel\'s socket for our devices, or a free port before any network', () => {
    expect(judgePort(facts({ sockets: [kernelSocket], devices: [{ name: 'tsvx-4096', vni: 4096, port: 4789, up: true }] }))).toMatchObject({ ok: true, detail: 'UDP 4789 is bound by the kernel for 1 ts-overlay VXLAN device(s)' });
    expect(judgePort(facts({}))).toMatchObject({ ok: true, detail: 'UDP 4789 is free for VXLAN (no ts-overlay device is up here yet)' });
  });

  it('fails when a program holds the port', () => {
    expect(judgePort(facts({ sockets: [{ local: '0.0.0.0:4789', holders: ['socat (pid 7)'] }] }))).toMatchObject({ ok: false, detail: 'UDP 4789 is held by socat (pid 7): VXLAN devices cannot receive there' });
  });

  it('fails when our devices use another port, or are up with no socket', () => {
    expect(judgePort(facts({ sockets: [kernelSocket], devices: [{ name: 'tsvx-4096', vni: 4096, port: 8472, up: true }] })).detail).toBe('tsvx-4096 uses UDP 8472, but --vxlan-port is 4789');
    expect(judgePort(facts({ devices: [{ name: 'tsvx-4096', vni: 4096, port: 4789, up: true }] })).ok).toBe(false);
  });

  it('fails when a foreign VXLAN device takes one of our VNIs on the port, and passes when it shares the port only', () => {
    expect(judgePort(facts({ sockets: [kernelSocket], devices: [{ name: 'vxlan0', vni: 4096, port: 4789, up: true }] })).detail).toMatch(/^vxlan0 \(not ts-overlay's\) uses VNI 4096 on UDP 4789, which network life needs/);
    expect(judgePort(facts({ sockets: [kernelSocket], devices: [{ name: 'vxlan0', vni: 7, port: 4789, up: true }] }))).toMatchObject({ ok: true, detail: expect.stringMatching(/shared with vxlan0/) });
  });
});

describe('plugin socket', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tso-doctor-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('passes for a plugin that answers Plugin.Activate as ts-overlay does', async () => {
    const path = join(dir, 'good.sock');
    const socket = await PluginSocket.open(path);
    const app = buildServer(apiRoutes({ driver: {} as NetworkDriver, ipam: {} as IpamService, clusterNetwork: async () => undefined }), silentLogger, undefined, undefined, undefined, socket);
    await app.ready();
    try {
      expect(await checkPluginSocket(path)).toEqual({ name: 'plugin socket', ok: true, detail: `${path} answers Plugin.Activate: NetworkDriver, IpamDriver` });
    } finally {
      await app.close();
      await socket.close();
    }
  });

  it('fails for a missing path, a plain file, a socket left by a dead plugin, and a stranger', async () => {
    expect((await checkPluginSocket(join(dir, 'none.sock'))).detail).toMatch(/no socket at .*: the plugin is not running here/);
    writeFileSync(join(dir, 'file.sock'), '');
    expect((await checkPluginSocket(join(dir, 'file.sock'))).detail).toMatch(/exists but is not a socket/);

    // A plugin killed with SIGKILL leaves its socket file with nobody listening.
    const stale = join(dir, 'stale.sock');
    const child = spawn(process.execPath, ['-e', `require('net').createServer().listen(${JSON.stringify(stale)}); setInterval(() => {}, 1000)`], { stdio: 'ignore' });
    for (let i = 0; i < 100 && !existsSync(stale); i++) await new Promise((r) => setTimeout(r, 20));
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    expect(existsSync(stale)).toBe(true);
    expect((await checkPluginSocket(stale)).detail).toMatch(/nobody listens on it/);

    const stranger = join(dir, 'stranger.sock');
    const other = createServer((_req, res) => res.end('{"Implements":["VolumeDriver"]}'));
    await new Promise<void>((r) => other.listen(stranger, r));
    try {
      expect((await checkPluginSocket(stranger)).detail).toMatch(/answered Plugin\.Activate with HTTP 200: \{"Implements":\["VolumeDriver"\]\}/);
    } finally {
      other.close();
    }
  });
});

describe('doctor report', () => {
  it('prints OK/FAIL per check, the fix under a failure, and a count', () => {
    const text = formatDoctorReport({
      node: 'h2',
      vtep: '198.18.0.12',
      ok: false,
      checks: [
        { name: 'kernel VXLAN', ok: true, detail: 'created and deleted a VXLAN device' },
        { name: 'underlay MTU', ok: false, detail: 'eth0 has MTU 1400', fix: 'ip link set dev eth0 mtu 1500' },
      ],
    });
    expect(text).toBe([
      'ts-overlay doctor on h2 (VTEP 198.18.0.12)',
      'OK    kernel VXLAN  created and deleted a VXLAN device',
      'FAIL  underlay MTU  eth0 has MTU 1400',
      '                    fix: ip link set dev eth0 mtu 1500',
      '1 of 2 checks failed',
      '',
    ].join('\n'));
  });
});
