import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GUARD_CHAIN } from '../../src/dataplane/vxlan-guard.js';
import { containerIp, docker, dockerOk, E2E_LAB, inHost, lab, networkNames, resetLab, runBusybox, vniOfSubnet, waitFor } from '../helpers/lab.js';
import { sh, tryRun } from '../helpers/netns.js';

/**
 * Data plane security on real engines: a machine on the lab's underlay that is not a cluster
 * node speaks real VXLAN with the network's VNI to host 1, and its frames never reach the
 * container there, while the two member hosts keep talking.
 */
const SUBNET = '10.95.0.0/24';
const STRANGER_NS = `${E2E_LAB}-stranger`;
const STRANGER_ADDR = '198.18.0.99';
const H1 = '198.18.0.11';
const H2 = '198.18.0.12';

let vni = '';
let ip1 = '';
let ip2 = '';

const inStranger = (...args: string[]) => sh('ip', ['netns', 'exec', STRANGER_NS, ...args]);
const guardRules = async (host: number) => (await inHost(host, 'iptables', '-w', '-S', GUARD_CHAIN)).stdout;

/** ICMP echo requests container `name` on host 1 has received (its own namespace's counter). */
async function echoesReceived(name: string): Promise<number> {
  const lines = (await dockerOk(1, 'exec', name, 'cat', '/proc/net/snmp')).split('\n').filter((l) => l.startsWith('Icmp:'));
  const [header, values] = lines.map((l) => l.trim().split(/\s+/));
  return Number(values![header!.indexOf('InEchos')]);
}

/** Three echo requests from the stranger to g1, each one VXLAN datagram to host 1. */
const inject = () => tryRun('ip', ['netns', 'exec', STRANGER_NS, 'ping', '-c', '3', '-i', '0.2', '-W', '1', ip1]);

beforeAll(async () => {
  await resetLab();
  tryRun('ip', ['netns', 'del', STRANGER_NS]); // a killed earlier run's
  await dockerOk(1, 'network', 'create', '-d', 'ts-overlay', '--ipam-driver', 'ts-overlay', '--subnet', SUBNET, 'guarded');
  await waitFor('guarded on host 2', async () => (await networkNames(2)).includes('guarded'));
  await runBusybox(1, 'g1', '--net', 'guarded');
  await runBusybox(2, 'g2', '--net', 'guarded');
  ip1 = await containerIp(1, 'g1', 'guarded');
  ip2 = await containerIp(2, 'g2', 'guarded');
  vni = await vniOfSubnet(SUBNET);
  expect((await inHost(1, 'ip', '-d', 'link', 'show', `tsvx-${vni}`)).stdout).toMatch(new RegExp(`vxlan id ${vni} `));

  // The stranger: a veth into the underlay bridge, and a VXLAN device aimed at host 1 with the
  // network's VNI. Its neighbour entry for g1 is static, so each ping is one frame on the wire.
  const mac1 = await dockerOk(1, 'inspect', '-f', '{{(index .NetworkSettings.Networks "guarded").MacAddress}}', 'g1');
  sh('ip', ['netns', 'add', STRANGER_NS]);
  // Its port on the underlay bridge has the smallest MAC there on purpose: a bridge whose MAC
  // was not set takes its smallest port's, and the nodes' ARP entries for etcd (on that bridge)
  // went stale for up to a minute; the lab sets ul0's MAC so a joining port changes nothing.
  sh('ip', ['link', 'add', 'ul0', 'netns', STRANGER_NS, 'type', 'veth', 'peer', 'name', 'stranger', 'address', '02:00:00:00:00:01', 'netns', `${E2E_LAB}-ul`]);
  sh('ip', ['-n', `${E2E_LAB}-ul`, 'link', 'set', 'stranger', 'master', 'ul0', 'up']);
  inStranger('ip', 'addr', 'add', `${STRANGER_ADDR}/24`, 'dev', 'ul0');
  inStranger('ip', 'link', 'set', 'ul0', 'up');
  inStranger('ip', 'link', 'add', 'vx0', 'type', 'vxlan', 'id', vni, 'local', STRANGER_ADDR, 'remote', H1, 'dstport', '4789');
  inStranger('ip', 'addr', 'add', '10.95.0.250/24', 'dev', 'vx0');
  inStranger('ip', 'link', 'set', 'vx0', 'up');
  inStranger('ip', 'neigh', 'add', ip1, 'lladdr', mac1, 'dev', 'vx0', 'nud', 'permanent');
  expect(inStranger('ping', '-c', '1', '-W', '2', H1)).toMatch(/1 received/); // the underlay reaches host 1
});

afterAll(async () => {
  tryRun('ip', ['netns', 'del', STRANGER_NS]); // takes its veth out of the underlay bridge too
  await resetLab();
});

describe('VXLAN guard', () => {
  it('accepts VXLAN on each host from the two members only', async () => {
    for (const host of [1, 2]) {
      const rules = (await guardRules(host)).trim().split('\n');
      expect(rules.slice(1).sort(), `h${host}`).toEqual([
        `-A ${GUARD_CHAIN} -j DROP`,
        `-A ${GUARD_CHAIN} -s ${H1}/32 -j ACCEPT`,
        `-A ${GUARD_CHAIN} -s ${H2}/32 -j ACCEPT`,
      ]);
      expect(rules.at(-1)).toBe(`-A ${GUARD_CHAIN} -j DROP`);
      expect((await inHost(host, 'iptables', '-w', '-S', 'INPUT')).stdout).toContain(`-A INPUT -p udp -m udp --dport 4789 -j ${GUARD_CHAIN}`);
    }
  });

  it('keeps a non-member\'s VXLAN frames away from a container, while the members ping across', async () => {
    const before = await echoesReceived('g1');
    expect(inject().ok).toBe(false);
    expect(await echoesReceived('g1')).toBe(before);
    expect(await dockerOk(2, 'exec', 'g2', 'ping', '-c', '2', '-W', '2', ip1)).toMatch(/2 packets received/);
    expect(await dockerOk(1, 'exec', 'g1', 'ping', '-c', '2', '-W', '2', ip2)).toMatch(/2 packets received/);
  });

  it('lets the frames through without its rules (the control), and puts flushed rules back', async () => {
    // The plugin is stopped while we look, so that no reconcile puts the rules back in the
    // middle of the control; stopping it leaves the kernel (and the rules) as they are.
    expect((await lab('plugin-stop', '1')).ok).toBe(true);
    try {
      expect(await guardRules(1)).toContain('-j DROP');
      await inHost(1, 'iptables', '-w', '-F', GUARD_CHAIN);
      // The control: with the chain empty, the same frames reach g1, so the test above can fail.
      const open = await echoesReceived('g1');
      inject();
      expect(await echoesReceived('g1')).toBeGreaterThanOrEqual(open + 3);
    } finally {
      expect((await lab('plugin-start', '1')).ok).toBe(true);
    }
    // The plugin puts the rules back at start (and on every periodic pass).
    await waitFor('the guard back on host 1', async () => (await guardRules(1)).includes('-j DROP'), 15_000, 200);
    const closed = await echoesReceived('g1');
    expect(inject().ok).toBe(false);
    expect(await echoesReceived('g1')).toBe(closed);
  });

  it('drops a node whose lease expired, and accepts it again when it comes back', async () => {
    expect((await lab('plugin-stop', '2')).ok).toBe(true);
    try {
      await waitFor('h2 dropped from the guard on host 1', async () => !(await guardRules(1)).includes(`${H2}/32`), 30_000, 200);
    } finally {
      expect((await lab('plugin-start', '2')).ok).toBe(true);
    }
    await waitFor('h2 accepted again on host 1', async () => (await guardRules(1)).includes(`${H2}/32`), 15_000, 200);
    await waitFor('g2 reaches g1 again', async () => (await docker(2, 'exec', 'g2', 'ping', '-c', '1', '-W', '1', ip1)).ok, 15_000, 200);
  });
});
