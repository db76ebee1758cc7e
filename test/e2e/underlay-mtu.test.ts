import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { containerIp, docker, dockerOk, ETCD_ENDPOINTS, etcdctl, inHost, lab, LAB_STATE, networkNames, REPO, resetLab, runBusybox, waitFor } from '../helpers/lab.js';

/**
 * Automatic MTU on real engines: a network's MTU follows the underlay (9000 -> 8950), is the same
 * on every host, and fits the smallest underlay among the live nodes; doctor flags a host whose
 * underlay is too small for a network made before. The lab's underlay is changed for this file
 * only and put back (and the plugins restarted) whatever happens.
 */
const create = (name: string, ...args: string[]) => dockerOk(1, 'network', 'create', '-d', 'ts-overlay', '--ipam-driver', 'ts-overlay', ...args, name);
const mtuOf = (host: number, container: string) => dockerOk(host, 'exec', container, 'cat', '/sys/class/net/eth0/mtu');
const recordedMtu = async (subnet: string) => {
  const out = await etcdctl('get', '--prefix', '/ts-overlay/networks/', '--print-value-only');
  const nets = out.stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as { subnet: string; mtu?: number });
  return nets.find((n) => n.subnet === subnet)?.mtu;
};
const doctor = (host: number) =>
  inHost(host, 'node', `${REPO}/dist/main.js`, 'doctor', '--json', '--etcd', ETCD_ENDPOINTS, '--node-name', `h${host}`, '--advertise-addr', `198.18.0.${10 + host}`,
    '--socket', `${LAB_STATE}/h${host}/run-docker/plugins/ts-overlay.sock`);

async function setUnderlay(mtu: number, ...hosts: number[]) {
  const r = await lab('mtu', String(mtu), ...hosts.map(String));
  expect(r.ok, r.stderr).toBe(true);
  // The plugin reads its underlay at start: restart it so new networks see the change.
  for (const h of hosts) {
    const restarted = await lab('plugin-restart', String(h));
    expect(restarted.ok, restarted.stderr).toBe(true);
  }
}

beforeAll(() => resetLab());

afterAll(async () => {
  // The underlay and the plugins come back first, whatever happens: the next files need them.
  const restored = [await lab('mtu', '1500'), await lab('plugin-restart', '1'), await lab('plugin-restart', '2')];
  await resetLab();
  for (const r of restored) expect(r.ok, r.stderr).toBe(true);
});

describe('the overlay MTU follows the underlay', () => {
  it('gives containers 8950 on a 9000-byte underlay, and full-size frames cross unfragmented', async () => {
    await setUnderlay(9000, 1, 2);
    await create('jumbo', '--subnet', '10.77.0.0/24');
    await waitFor('jumbo on host 2', async () => (await networkNames(2)).includes('jumbo'), 10_000);
    await runBusybox(1, 'j1', '--net', 'jumbo');
    await runBusybox(2, 'j2', '--net', 'jumbo');
    expect(await mtuOf(1, 'j1')).toBe('8950');
    expect(await mtuOf(2, 'j2')).toBe('8950');
    expect(await recordedMtu('10.77.0.0/24')).toBe(8950);
    // 8922 bytes of ICMP payload + 28 of headers = 8950, with DF set (iputils ping in the container's netns).
    const pid = await dockerOk(1, 'inspect', '-f', '{{.State.Pid}}', 'j1');
    const ping = await inHost(1, 'nsenter', '-t', pid, '-n', 'ping', '-c', '2', '-W', '2', '-M', 'do', '-s', '8922', await containerIp(2, 'j2', 'jumbo'));
    expect(ping.stdout, ping.stderr).toMatch(/2 received/);
  });

  it('fits the smallest underlay among live nodes, and doctor flags the small host for a network made before', async () => {
    await setUnderlay(1500, 2); // h1 keeps 9000
    await create('mixed', '--subnet', '10.78.0.0/24');
    await waitFor('mixed on host 2', async () => (await networkNames(2)).includes('mixed'), 10_000);
    await runBusybox(1, 'm1', '--net', 'mixed');
    expect(await mtuOf(1, 'm1')).toBe('1450');
    expect(await recordedMtu('10.78.0.0/24')).toBe(1450);

    // jumbo (8950) was made while h2 had 9000: h2 keeps using 8950, and its underlay no longer carries it.
    const onH2 = await doctor(2);
    expect(onH2.ok).toBe(false);
    const report = JSON.parse(onH2.stdout) as { checks: Array<{ name: string; ok: boolean; detail: string }> };
    expect(report.checks.find((c) => c.name === 'underlay MTU')).toMatchObject({ ok: false, detail: expect.stringContaining('jumbo (VNI') });
    const onH1 = JSON.parse((await doctor(1)).stdout) as typeof report;
    expect(onH1.checks.find((c) => c.name === 'underlay MTU')).toMatchObject({ ok: true });
  });

  it('lets -o mtu win over the underlay', async () => {
    await create('fixed', '--subnet', '10.79.0.0/24', '-o', 'mtu=1300');
    await runBusybox(1, 'f1', '--net', 'fixed');
    expect(await mtuOf(1, 'f1')).toBe('1300');
    expect(await recordedMtu('10.79.0.0/24')).toBe(1300);
    expect((await docker(1, 'rm', '-f', 'f1')).ok).toBe(true);
  });
});
