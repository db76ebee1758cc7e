import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { containerIp, docker, dockerOk, etcdctl, inHost, lab, LAB_STATE, networkNames, resetLab, runBusybox, vniOfSubnet, waitFor } from '../helpers/lab.js';

/**
 * The source documents' two-host scenario, on real engines: create on host 1, the network
 * shows on host 2 by itself, one container per host, ping across. Tests run in order and
 * share the lab; each leaves the lab clean.
 */
const create = (host: number, name: string, ...args: string[]) =>
  docker(host, 'network', 'create', '-d', 'ts-overlay', '--ipam-driver', 'ts-overlay', ...args, name);

beforeAll(() => resetLab());

describe('the overlay across two hosts', () => {
  it('reproduces the source documents: demo on host 1 appears on host 2, containers ping across', async () => {
    const created = await create(1, 'demo');
    expect(created.ok, created.stderr).toBe(true);
    expect(created.stdout).toMatch(/^[0-9a-f]{64}$/);
    await waitFor('demo on host 2', async () => (await networkNames(2)).includes('demo'), 5000);

    for (const h of [1, 2]) {
      const ipam = JSON.parse(await dockerOk(h, 'network', 'inspect', '-f', '{{json .IPAM.Config}}', 'demo'));
      expect(ipam[0]).toMatchObject({ Subnet: '10.0.0.0/24', Gateway: '10.0.0.1' });
    }

    await runBusybox(1, 'test1', '--net', 'demo');
    await runBusybox(2, 'test2', '--net', 'demo');
    const ip1 = await containerIp(1, 'test1', 'demo');
    const ip2 = await containerIp(2, 'test2', 'demo');
    expect(ip1).toMatch(/^10\.0\.0\.\d+$/);
    expect(ip2).toMatch(/^10\.0\.0\.\d+$/);
    expect(ip1).not.toBe(ip2);

    // eth0 on the overlay with the underlay MTU (1500) minus VXLAN's 50 bytes, eth1 on docker_gwbridge.
    const links = await dockerOk(1, 'exec', 'test1', 'ip', '-o', 'addr', 'show');
    expect(links).toMatch(new RegExp(`eth0\\s+inet ${ip1.replace(/\./g, '\\.')}/24`));
    expect(links).toMatch(/eth1\s+inet 172\.18\.\d+\.\d+\/16/);
    expect(await dockerOk(1, 'exec', 'test1', 'cat', '/sys/class/net/eth0/mtu')).toBe('1450');
    expect(await dockerOk(1, 'exec', 'test1', 'cat', '/sys/class/net/eth0/address')).toBe(`02:42:0a:00:00:${Number(ip1.split('.')[3]).toString(16).padStart(2, '0')}`);

    expect(await dockerOk(2, 'exec', 'test2', 'ping', '-c', '3', '-W', '2', ip1)).toMatch(/3 packets received/);
    expect(await dockerOk(1, 'exec', 'test1', 'ping', '-c', '3', '-W', '2', ip2)).toMatch(/3 packets received/);
    // The largest unfragmented frame crosses too.
    expect(await dockerOk(1, 'exec', 'test1', 'ping', '-c', '1', '-s', '1422', ip2)).toMatch(/1 packets received/);
  });

  it('removes the network from every host and leaves nothing behind (kernel and etcd)', async () => {
    await dockerOk(1, 'rm', '-f', 'test1');
    await dockerOk(2, 'rm', '-f', 'test2');
    await dockerOk(1, 'network', 'rm', 'demo');
    await waitFor('demo gone from host 2', async () => !(await networkNames(2)).includes('demo'), 5000);
    for (const h of [1, 2]) {
      await waitFor(`no ts-overlay device on h${h}`, async () => !/ts(br|vx|v|c)-/.test((await inHost(h, 'ip', '-br', 'link')).stdout), 5000);
      const fdb = (await inHost(h, 'bridge', 'fdb', 'show')).stdout;
      expect(fdb).not.toMatch(/tsvx-/);
    }
    // The engine hides a network from `network ls` as soon as it marks it for deletion, a moment
    // before it calls DeleteNetwork: give the last host that moment.
    const leftovers = async () =>
      (await etcdctl('get', '--prefix', '/ts-overlay/', '--keys-only')).stdout.split('\n').filter((k) => /\/(pools|addresses|networks|vnis|endpoints|copies)\//.test(k));
    await waitFor('etcd to forget demo', async () => (await leftovers()).length === 0, 5000).catch(() => undefined);
    expect(await leftovers()).toEqual([]);
  });

  it('keeps two ts-overlay networks apart, on one host and across hosts', async () => {
    await create(1, 'red');
    await create(1, 'blue');
    await waitFor('red and blue on host 2', async () => {
      const names = await networkNames(2);
      return names.includes('red') && names.includes('blue');
    });
    await runBusybox(1, 'red1', '--net', 'red');
    await runBusybox(2, 'red2', '--net', 'red');
    await runBusybox(1, 'blue1', '--net', 'blue');
    await runBusybox(2, 'blue2', '--net', 'blue');
    const red2 = await containerIp(2, 'red2', 'red');
    const blue1 = await containerIp(1, 'blue1', 'blue');
    const blue2 = await containerIp(2, 'blue2', 'blue');
    expect(await dockerOk(1, 'exec', 'red1', 'ping', '-c', '2', '-W', '2', red2)).toMatch(/2 packets received/);
    expect(await dockerOk(1, 'exec', 'blue1', 'ping', '-c', '2', '-W', '2', blue2)).toMatch(/2 packets received/);
    expect((await docker(1, 'exec', 'red1', 'ping', '-c', '2', '-W', '1', blue1)).ok).toBe(false); // same host
    expect((await docker(1, 'exec', 'red1', 'ping', '-c', '2', '-W', '1', blue2)).ok).toBe(false); // across hosts
    await resetLab();
  });

  it('refuses a --subnet that overlaps a network made on another host, with a clear error', async () => {
    expect((await create(1, 'first', '--subnet', '10.50.0.0/24')).ok).toBe(true);
    const refused = await create(2, 'second', '--subnet', '10.50.0.0/16');
    expect(refused.ok).toBe(false);
    expect(refused.stderr).toMatch(/10\.50\.0\.0\/16 overlaps 10\.50\.0\.0\/24.*created on h1/);
    expect(await networkNames(2)).not.toContain('second');
    await resetLab();
  });

  it('refuses -d ts-overlay without its IPAM, saying what to add', async () => {
    const r = await docker(1, 'network', 'create', '-d', 'ts-overlay', 'noipam');
    expect(r.ok).toBe(false);
    expect(r.stderr).toMatch(/--ipam-driver ts-overlay/);
    expect(await networkNames(1)).not.toContain('noipam');
  });

  it('honours --subnet, --ip-range, --gateway, --aux-address, -o vni and --ip on every host', async () => {
    const r = await create(1, 'custom', '--subnet', '10.60.0.0/24', '--ip-range', '10.60.0.128/25', '--gateway', '10.60.0.254', '--aux-address', 'router=10.60.0.200', '-o', 'vni=7777', '-o', 'mtu=1400', '--label', 'team=blue');
    expect(r.ok, r.stderr).toBe(true);
    await waitFor('custom on host 2', async () => (await networkNames(2)).includes('custom'));
    const config = JSON.parse(await dockerOk(2, 'network', 'inspect', '-f', '{{json .IPAM.Config}}', 'custom'))[0];
    expect(config).toMatchObject({ Subnet: '10.60.0.0/24', IPRange: '10.60.0.128/25', Gateway: '10.60.0.254', AuxiliaryAddresses: { router: '10.60.0.200' } });
    expect((await inHost(2, 'ip', '-d', 'link', 'show', 'tsvx-7777')).stdout).toMatch(/vxlan id 7777/);
    expect(await dockerOk(2, 'network', 'inspect', '-f', '{{index .Labels "team"}} {{index .Options "mtu"}}', 'custom')).toBe('blue 1400');

    await runBusybox(1, 'c1', '--net', 'custom');
    await runBusybox(2, 'c2', '--net', 'custom', '--ip', '10.60.0.10');
    expect(await containerIp(1, 'c1', 'custom')).toMatch(/^10\.60\.0\.(12[89]|1[3-9]\d|2\d\d)$/); // inside the ip-range
    expect(await containerIp(2, 'c2', 'custom')).toBe('10.60.0.10');
    expect(await dockerOk(2, 'exec', 'c2', 'cat', '/sys/class/net/eth0/mtu')).toBe('1400');
    const taken = await docker(1, 'run', '-d', '--name', 'c3', '--net', 'custom', '--ip', '10.60.0.10', 'busybox', 'sleep', '60');
    expect(taken.ok).toBe(false);
    expect(taken.stderr).toMatch(/10\.60\.0\.10 is already in use/);
    expect(await dockerOk(1, 'exec', 'c1', 'ping', '-c', '2', '-W', '2', '10.60.0.10')).toMatch(/2 packets received/);

    const sameVni = await create(2, 'clash', '-o', 'vni=7777');
    expect(sameVni.ok).toBe(false);
    expect(sameVni.stderr).toMatch(/vni 7777 is already used/);
    await resetLab();
  });

  it('gives an --internal network no docker_gwbridge interface', async () => {
    expect((await create(1, 'inner', '--internal')).ok).toBe(true);
    await waitFor('inner on host 2', async () => (await networkNames(2)).includes('inner'));
    expect(await dockerOk(2, 'network', 'inspect', '-f', '{{.Internal}}', 'inner')).toBe('true');
    await runBusybox(1, 'i1', '--net', 'inner');
    await runBusybox(2, 'i2', '--net', 'inner');
    expect((await dockerOk(2, 'exec', 'i2', 'ip', '-o', 'link')).match(/eth1/)).toBeNull();
    expect(await dockerOk(2, 'exec', 'i2', 'ping', '-c', '2', '-W', '2', await containerIp(1, 'i1', 'inner'))).toMatch(/2 packets received/);
    await resetLab();
  });

  it('gives 20 containers started at once on two hosts 20 distinct addresses, all reachable', async () => {
    await create(1, 'crowd');
    await waitFor('crowd on host 2', async () => (await networkNames(2)).includes('crowd'));
    const names = [1, 2].flatMap((h) => Array.from({ length: 10 }, (_, i) => ({ h, name: `n${h}-${i}` })));
    await Promise.all(names.map(({ h, name }) => runBusybox(h, name, '--net', 'crowd')));
    const ips = await Promise.all(names.map(({ h, name }) => containerIp(h, name, 'crowd')));
    expect(new Set(ips).size).toBe(20);
    for (const ip of ips) expect(ip).toMatch(/^10\.0\.0\.\d+$/);
    // Every host-1 container reaches a host-2 one and back.
    const from = names.filter((n) => n.h === 1);
    const to = ips.slice(10);
    await Promise.all(from.map(({ name }, i) => dockerOk(1, 'exec', name, 'ping', '-c', '1', '-W', '2', to[i]!)));
    await resetLab();
  });

  it('gives a host that starts later the networks that already exist', async () => {
    expect((await lab('plugin-stop', '2')).ok).toBe(true);
    try {
      expect((await create(1, 'early', '--subnet', '10.70.0.0/24')).ok).toBe(true);
      await runBusybox(1, 'e1', '--net', 'early');
      await new Promise((r) => setTimeout(r, 1000));
      expect(await networkNames(2)).not.toContain('early'); // nobody there to copy it yet
    } finally {
      expect((await lab('plugin-start', '2')).ok).toBe(true);
    }
    await waitFor('early on host 2 after its plugin started', async () => (await networkNames(2)).includes('early'), 10_000);
    await runBusybox(2, 'e2', '--net', 'early');
    expect(await dockerOk(2, 'exec', 'e2', 'ping', '-c', '2', '-W', '2', await containerIp(1, 'e1', 'early'))).toMatch(/2 packets received/);
    await resetLab();
  });

  it('keeps a network that another host still uses, and gives it back to the host that removed it', async () => {
    await create(1, 'shared', '--subnet', '10.80.0.0/24');
    await waitFor('shared on host 2', async () => (await networkNames(2)).includes('shared'));
    await runBusybox(2, 's2', '--net', 'shared');
    const vni = await vniOfSubnet('10.80.0.0/24'); // not the first tsvx- listed: an earlier network's may still be going
    expect((await docker(1, 'network', 'rm', 'shared')).ok).toBe(true); // the engine cannot be stopped
    await waitFor('shared restored on host 1', async () => (await networkNames(1)).includes('shared'), 10_000);
    const config = JSON.parse(await dockerOk(1, 'network', 'inspect', '-f', '{{json .IPAM.Config}}', 'shared'))[0];
    expect(config.Subnet).toBe('10.80.0.0/24');
    expect((await inHost(1, 'ip', '-br', 'link')).stdout).toContain(`tsvx-${vni}`); // same VNI
    await runBusybox(1, 's1', '--net', 'shared');
    expect(await dockerOk(1, 'exec', 's1', 'ping', '-c', '2', '-W', '2', await containerIp(2, 's2', 'shared'))).toMatch(/2 packets received/);
    expect(readFileSync(`${LAB_STATE}/h1/plugin.log`, 'utf8')).toMatch(/still has endpoints on h2/);
    await resetLab();
  });
});
