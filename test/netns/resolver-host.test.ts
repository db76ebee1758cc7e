import { beforeAll, describe, expect, it } from 'vitest';
import { Dataplane } from '../../src/dataplane/dataplane.js';
import { hostPortMac } from '../../src/dataplane/names.js';
import { HOST_CHAIN, hostChainRules, RESOLVER_DEVICE, RESOLVER_TABLE, ResolverHost } from '../../src/dataplane/resolver-host.js';
import { Runner } from '../../src/dataplane/runner.js';
import { makeNetns, plugIntoContainer, removeLeftoverNamespaces, type Netns } from '../helpers/netns.js';

beforeAll(() => removeLeftoverNamespaces());

const ADDR = '169.254.53.53';
const VNI = 7100;
const SUBNET = '10.71.0.0/24';

/** Packets counted by the rule of the host chain whose text contains `match`. */
function counted(host: Netns, match: RegExp): number {
  const line = host.exec('iptables', '-w', '-L', HOST_CHAIN, '-v', '-n', '-x').split('\n').find((l) => match.test(l));
  return Number(line?.trim().split(/\s+/)[0] ?? NaN);
}

describe('the DNS responder\'s address on a real host namespace', () => {
  it('is made once (a second pass changes nothing), reached from a container through its own interface, and the host stays closed otherwise (no route into the overlay either)', async () => {
    await using host = makeNetns('rh');
    await using ctr = makeNetns('rc');
    const run = new Runner(host.name);
    const resolver = new ResolverHost(run);
    expect(await resolver.ensure(ADDR)).toBeGreaterThan(0);
    expect(await resolver.ensure(ADDR)).toBe(0);
    expect(host.exec('ip', '-br', 'addr', 'show', 'dev', RESOLVER_DEVICE)).toContain(`${ADDR}/32`);

    // A network as the plugin makes it: its route sends answers back through the host port, in
    // the responder's own table; the main table gets no route into the overlay.
    const dp = new Dataplane(run, { vtep: '127.0.0.1', port: 4789 }, ADDR);
    await dp.ensureNetwork({ vni: VNI, mtu: 1450, subnet: SUBNET });
    expect(host.exec('ip', 'route', 'show', 'table', String(RESOLVER_TABLE))).toContain(`${SUBNET} dev tsh-${VNI}`);
    expect(host.exec('ip', 'route', 'show', SUBNET)).toBe('');
    expect(host.exec('ip', 'rule', 'show')).toContain(`from ${ADDR} lookup ${RESOLVER_TABLE}`);
    expect(host.exec('ip', 'route', 'get', '10.71.0.2', 'from', ADDR)).toContain(`dev tsh-${VNI}`);
    expect(host.tryExec('ip', 'route', 'get', '10.71.0.2').out).not.toContain(`tsh-${VNI}`); // unreachable here: no default route
    const ifname = await dp.ensurePort({ endpointId: 'e'.repeat(64), vni: VNI, mac: '02:42:0a:47:00:02', mtu: 1450 });
    plugIntoContainer(host, ctr, ifname, '10.71.0.2/24');
    // What the engine does with the route Join returns (RouteType 1: bound to the interface).
    ctr.exec('ip', 'route', 'add', `${ADDR}/32`, 'dev', 'eth0', 'scope', 'link');

    // DNS to the responder's address passes; ping to it and to anything else of the host's does not.
    const udpBefore = counted(host, /udp dpt:53/);
    ctr.exec('bash', '-c', `echo query > /dev/udp/${ADDR}/53`);
    expect(counted(host, /udp dpt:53/)).toBe(udpBefore + 1);
    // Answered for by the host port, with the MAC it always has (the same after it is made again).
    expect(ctr.exec('ip', 'neigh', 'show', ADDR)).toContain(hostPortMac('127.0.0.1', VNI));
    expect(ctr.tryExec('ping', '-c', '1', '-W', '1', ADDR).ok).toBe(false);
    host.exec('ip', 'addr', 'add', '198.18.210.1/24', 'dev', 'lo');
    ctr.exec('ip', 'route', 'add', '198.18.210.0/24', 'dev', 'eth0'); // as a container with raw sockets could aim at it
    expect(ctr.tryExec('ping', '-c', '1', '-W', '1', '198.18.210.1').ok).toBe(false);
    expect(counted(host, /DROP/)).toBeGreaterThanOrEqual(2);

    // Drift: someone flushes the chain and deletes the jump; the next pass puts both back.
    host.exec('iptables', '-w', '-F', HOST_CHAIN);
    host.exec('iptables', '-w', '-D', 'INPUT', '-i', 'tsh-+', '-j', HOST_CHAIN);
    host.exec('iptables', '-w', '-I', 'INPUT', '-i', 'tsbr+', '-j', HOST_CHAIN); // the jump of earlier builds
    expect(await resolver.ensure(ADDR)).toBeGreaterThan(0);
    expect(host.exec('iptables', '-w', '-S', 'INPUT')).toContain(`-A INPUT -i tsh-+ -j ${HOST_CHAIN}`);
    expect(host.exec('iptables', '-w', '-S', 'INPUT')).not.toContain('tsbr+');
    expect(ctr.tryExec('ping', '-c', '1', '-W', '1', ADDR).ok).toBe(false);
    expect(await resolver.ensure(ADDR)).toBe(0);

    // Another address (--dns-addr changed): the old one goes.
    expect(await resolver.ensure('169.254.0.53')).toBeGreaterThan(0);
    const addrs = host.exec('ip', '-br', 'addr', 'show', 'dev', RESOLVER_DEVICE);
    expect(addrs).toContain('169.254.0.53/32');
    expect(addrs).not.toContain(ADDR);
    // The chain was rebuilt for it (new rules in ahead of the old, then the old out): exactly the wanted rules.
    const chain = () => host.exec('iptables', '-w', '-S', HOST_CHAIN).trim().split('\n').slice(1);
    expect(chain()).toEqual(hostChainRules('169.254.0.53').map((r) => `-A ${HOST_CHAIN} ${r}`));
    // A rule someone added goes too.
    host.exec('iptables', '-w', '-A', HOST_CHAIN, '-p', 'tcp', '--dport', '22', '-j', 'ACCEPT');
    expect(await resolver.ensure('169.254.0.53')).toBeGreaterThan(0);
    expect(chain()).toEqual(hostChainRules('169.254.0.53').map((r) => `-A ${HOST_CHAIN} ${r}`));

    expect(host.exec('ip', 'rule', 'show')).toContain(`from 169.254.0.53 lookup ${RESOLVER_TABLE}`);
    expect(host.exec('ip', 'rule', 'show')).not.toContain(`from ${ADDR} `);

    // Off: device, rule, the table's routes, chain and jump gone; again is a no-op.
    expect(await resolver.remove()).toBeGreaterThan(0);
    expect(host.tryExec('ip', 'link', 'show', RESOLVER_DEVICE).ok).toBe(false);
    expect(host.exec('ip', 'rule', 'show')).not.toContain(String(RESOLVER_TABLE));
    expect(host.exec('ip', 'route', 'show', 'table', String(RESOLVER_TABLE))).toBe('');
    expect(host.exec('iptables', '-w', '-S')).not.toContain(HOST_CHAIN);
    expect(await resolver.remove()).toBe(0);
  });
});
