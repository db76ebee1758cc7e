import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CryptoTunnel } from '../../src/dataplane/crypto-tunnel.js';
import { Dataplane } from '../../src/dataplane/dataplane.js';
import { desiredPeers } from '../../src/dataplane/peers.js';
import { Runner } from '../../src/dataplane/runner.js';
import { TUNNEL_OVERHEAD } from '../../src/dataplane/tunnel-packet.js';
import { TUNNEL_CHAIN, TunnelRules } from '../../src/dataplane/tunnel-rules.js';
import { type Capture, captureWhile } from '../helpers/capture.js';
import { makeNetns, plugIntoContainer, removeLeftoverNamespaces, sh, underlayPair, type Netns } from '../helpers/netns.js';
import { waitFor } from '../helpers/wait-for.js';

/**
 * The encrypted tunnel on real kernels in namespaces: two hosts, each with the plugin's data
 * plane for one encrypted and one plain network, a container on each network, and the tunnel
 * process. The underlay is captured and searched for a payload only the containers know.
 */
const ENC_PORT = 4790;
const INNER = ENC_PORT + 1;
const ENC_VNI = 7100;
const PLAIN_VNI = 7200;
const MTU = 1500 - 50 - TUNNEL_OVERHEAD;
/** ping -p fills each echo payload with this pattern ("tsencrypted!"). */
const PATTERN = '7473656e6372797074656421';
const secret = (n: number) => Buffer.alloc(32, n).toString('base64');

interface Host {
  readonly ns: Netns;
  readonly vtep: string;
  readonly dp: Dataplane;
  readonly tunnel: CryptoTunnel;
  readonly rules: TunnelRules;
  readonly enc: Netns; // a container on the encrypted network
  readonly plain: Netns; // a container on the plain network
}

const hosts: Host[] = [];
const disposables: Netns[] = [];
let captures: string;

beforeAll(async () => {
  removeLeftoverNamespaces();
  captures = mkdtempSync(join(tmpdir(), 'tso-enc-'));
  const [n1, n2] = [makeNetns('e1'), makeNetns('e2')];
  disposables.push(n1, n2);
  // No IPv6: its router solicitations and MLD would add frames to the counters compared below.
  const noIpv6 = (n: Netns) => n.exec('sysctl', '-qw', 'net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1');
  noIpv6(n1);
  noIpv6(n2);
  const { vtepA, vtepB } = underlayPair(n1, n2);
  const macs = ['02:42:0a:61:00:01', '02:42:0a:61:00:02'];
  for (const [i, [ns, vtep]] of ([[n1, vtepA], [n2, vtepB]] as const).entries()) {
    const dp = new Dataplane(new Runner(ns.name), { vtep, port: 4789, innerPort: INNER });
    await dp.ensureNetwork({ vni: ENC_VNI, mtu: MTU, encrypted: true });
    await dp.ensureNetwork({ vni: PLAIN_VNI, mtu: 1450 });
    const enc = makeNetns(`c${i}e`);
    const plain = makeNetns(`c${i}p`);
    disposables.push(enc, plain);
    noIpv6(enc);
    noIpv6(plain);
    const encEp = `${i}e`.padEnd(64, 'a');
    const plainEp = `${i}p`.padEnd(64, 'b');
    plugIntoContainer(ns, enc, await dp.ensurePort({ endpointId: encEp, vni: ENC_VNI, mac: macs[i]!, mtu: MTU }), `10.97.0.${i + 1}/24`);
    plugIntoContainer(ns, plain, await dp.ensurePort({ endpointId: plainEp, vni: PLAIN_VNI, mac: macs[i]!, mtu: 1450 }), `10.98.0.${i + 1}/24`);
    const tunnel = new CryptoTunnel({ vtep, encPort: ENC_PORT, innerPort: INNER, relayPortBase: 20000, relayPortSpan: 10000 }, ns.name);
    hosts.push({ ns, vtep, dp, tunnel, rules: new TunnelRules(new Runner(ns.name), INNER), enc, plain });
  }
  for (const [i, h] of hosts.entries()) {
    const other = hosts[1 - i]!;
    await h.dp.applyPeers(ENC_VNI, desiredPeers([{ id: 'peer', mac: macs[1 - i]!, ip: `10.97.0.${2 - i}`, vtep: other.vtep }]));
    await h.dp.applyPeers(PLAIN_VNI, desiredPeers([{ id: 'peer', mac: macs[1 - i]!, ip: `10.98.0.${2 - i}`, vtep: other.vtep }]));
  }
}, 60_000);

afterAll(async () => {
  try {
    for (const h of hosts) await h.tunnel.stop().catch(() => undefined); // the namespaces go whatever a stop says
  } finally {
    for (const n of disposables) await n[Symbol.asyncDispose]();
    rmSync(captures, { recursive: true, force: true });
  }
});

/** Sets both hosts' tunnels to these keys; returns nothing until both run with them. */
async function keysEverywhere(keys: number[], primary: number, only?: Host): Promise<void> {
  for (const h of only ? [only] : hosts) {
    const relays = await h.tunnel.update({ keys: keys.map((id) => ({ id, secret: secret(id) })), primary }, hosts.map((x) => x.vtep));
    await h.rules.apply(relays);
  }
}

/** Captures host 1's underlay while `traffic` runs, into captures/NAME.pcap. */
function capture(name: string, traffic: () => unknown): Promise<Capture> {
  return captureWhile(hosts[0]!.ns.name, 'ul0', join(captures, `${name}.pcap`), traffic);
}

const pattern = Buffer.from(PATTERN, 'hex');
const ping = (from: Netns, to: string, ...extra: string[]) => from.tryExec('ping', '-c', '5', '-i', '0.1', '-W', '1', '-p', PATTERN, ...extra, to);

describe('encrypted tunnel between two hosts in namespaces', () => {
  it('carries the encrypted network sealed: ESP-like datagrams on the underlay, never the payload', async () => {
    await keysEverywhere([1], 1);
    let result = { ok: false, out: '' };
    const pcap = await capture('encrypted', () => void (result = ping(hosts[0]!.enc, '10.97.0.2')));
    expect(result.out).toMatch(/5 received/);
    expect(pcap.count(`udp dst port ${ENC_PORT}`)).toBeGreaterThanOrEqual(5);
    // No VXLAN of the encrypted VNI on the underlay (the VNI is the top 24 bits of VXLAN's second word).
    expect(pcap.count(`udp port ${INNER} or (udp port 4789 and (udp[12:4] & 0xffffff00) = 0x${(ENC_VNI << 8).toString(16)})`)).toBe(0);
    expect(pcap.bytes.indexOf(pattern)).toBe(-1);
  });

  it('shows the payload of the plain network in the same capture setup (the control)', async () => {
    let result = { ok: false, out: '' };
    const pcap = await capture('plain', () => void (result = ping(hosts[0]!.plain, '10.98.0.2')));
    expect(result.out).toMatch(/5 received/);
    expect(pcap.bytes.indexOf(pattern)).toBeGreaterThan(0);
    // The VNI filter used above finds this network's VXLAN: it could have found the encrypted one's.
    expect(pcap.count(`udp port 4789 and (udp[12:4] & 0xffffff00) = 0x${(PLAIN_VNI << 8).toString(16)}`)).toBeGreaterThanOrEqual(10);
  });

  it('fits a full-size frame of the encrypted network into one underlay packet', () => {
    const r = hosts[0]!.enc.tryExec('ping', '-c', '2', '-W', '2', '-M', 'do', '-s', String(MTU - 28), '10.97.0.2');
    expect(r.out).toMatch(/2 received/);
  });

  it('rotates keys (add, promote, retire) under a running ping without losing one', async () => {
    const pinger = spawn('ip', ['netns', 'exec', hosts[0]!.enc.name, 'ping', '-c', '60', '-i', '0.05', '-W', '1', '10.97.0.2'], { stdio: ['ignore', 'pipe', 'ignore'] });
    let out = '';
    pinger.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const done = new Promise((r) => pinger.once('exit', r));
    await new Promise((r) => setTimeout(r, 500));
    await keysEverywhere([1, 2], 1); // add: everyone can open 2
    await new Promise((r) => setTimeout(r, 500));
    await keysEverywhere([1, 2], 2); // promote: senders seal with 2 (host 1 first: host 2 still sends with 1)
    await new Promise((r) => setTimeout(r, 500));
    await keysEverywhere([2], 2); // retire 1
    await done;
    expect(out).toMatch(/60 packets transmitted, 60 received/);
    const [s1, s2] = [await hosts[0]!.tunnel.stats(), await hosts[1]!.tunnel.stats()];
    expect(s1.opened).toBeGreaterThan(0);
    expect(s2.droppedUnknownKey + s2.droppedForged + s1.droppedUnknownKey + s1.droppedForged).toBe(0);
  });

  it('drops what a receiver has no key for (the control for the rotation order)', async () => {
    await keysEverywhere([2, 3], 3, hosts[0]); // host 1 seals with 3, which host 2 does not hold
    const before = (await hosts[1]!.tunnel.stats()).droppedUnknownKey;
    expect(hosts[0]!.enc.tryExec('ping', '-c', '2', '-W', '1', '10.97.0.2').ok).toBe(false);
    expect((await hosts[1]!.tunnel.stats()).droppedUnknownKey).toBeGreaterThan(before);
    await keysEverywhere([2], 2);
    expect(ping(hosts[0]!.enc, '10.97.0.2').out).toMatch(/5 received/);
  });

  it('refuses forged, replayed and plaintext datagrams', async () => {
    const [h1, h2] = hosts as [Host, Host];
    // Host 2 forges a datagram (a future session, key 2, no valid tag), and replays a real one it captured.
    h2.ns.exec('node', '-e', `const s=require('dgram').createSocket('udp4');const b=Buffer.alloc(120);b[0]=1;b.writeUInt32BE(2,4);b.writeBigUInt64BE(1n<<62n,8);s.send(b,${ENC_PORT},'${h1.vtep}',()=>s.close())`);
    // The tunnel process counts it once it has read it: poll rather than guess how long that takes.
    await waitFor('the forged datagram counted', async () => (await h1.tunnel.stats()).droppedForged >= 1, 5000, 50).catch(() => undefined);
    expect((await h1.tunnel.stats()).droppedForged).toBeGreaterThanOrEqual(1);

    const pcap = join(captures, 'replay.pcap');
    const sealed = await capture('replay', () => void ping(h2.enc, '10.97.0.1'));
    expect(sealed.bytes.length).toBeGreaterThan(0);
    const first = sh('tcpdump', ['-r', pcap, '-n', '-x', '-c', '1', `udp dst port ${ENC_PORT} and src ${h2.vtep}`]);
    const hex = first.split('\n').filter((l) => /^\s+0x/.test(l)).map((l) => l.replace(/^\s+0x[0-9a-f]+:\s+/, '').replace(/\s/g, '')).join('');
    const udpPayload = hex.slice(28 * 2); // IPv4 (20, no options) + UDP (8)
    const replays = (await h1.tunnel.stats()).droppedReplay;
    h2.ns.exec('node', '-e', `const s=require('dgram').createSocket('udp4');s.bind(0,'${h2.vtep}',()=>s.send(Buffer.from('${udpPayload}','hex'),${ENC_PORT},'${h1.vtep}',()=>s.close()))`);
    await waitFor('the replay counted', async () => (await h1.tunnel.stats()).droppedReplay > replays, 5000, 50).catch(() => undefined);
    expect((await h1.tunnel.stats()).droppedReplay).toBe(replays + 1);

    // A peer (or anyone on the underlay) sends plain VXLAN for the encrypted VNI straight to
    // the devices' port: the INPUT drop takes it, the device never sees it.
    // A frame that reached the device is counted in its received packets (the network is idle
    // meanwhile: nothing else arrives).
    const received = () =>
      (JSON.parse(h1.ns.exec('ip', '-s', '-j', 'link', 'show', 'dev', `tsvx-${ENC_VNI}`)) as Array<{ stats64: { rx: { packets: number } } }>)[0]!.stats64.rx.packets;
    // One VXLAN datagram: flags, the encrypted VNI, then a broadcast Ethernet frame (ARP type).
    const frame = `08000000${ENC_VNI.toString(16).padStart(6, '0')}00ffffffffffff02420a6100630806${'00'.repeat(28)}`;
    const sendPlain = () => h2.ns.exec('node', '-e', `const s=require('dgram').createSocket('udp4');s.send(Buffer.from('${frame}','hex'),${INNER},'${h1.vtep}',()=>s.close())`);
    // Host 2 turns rogue (or its plugin is misconfigured): its own tunnel rules go, so its
    // datagrams to the devices' port leave unsealed.
    h2.ns.exec('iptables', '-w', '-t', 'nat', '-D', 'OUTPUT', '-p', 'udp', '-m', 'udp', '--dport', String(INNER), '-j', TUNNEL_CHAIN);
    h2.ns.exec('iptables', '-w', '-D', 'OUTPUT', '!', '-o', 'lo', '-p', 'udp', '-m', 'udp', '--dport', String(INNER), '-j', 'DROP');
    const before = received();
    sendPlain();
    await new Promise((r) => setTimeout(r, 200));
    expect(received()).toBe(before);
    // The control: without host 1's INPUT drop, the same datagram reaches the device.
    h1.ns.exec('iptables', '-w', '-D', 'INPUT', '!', '-i', 'lo', '-p', 'udp', '-m', 'udp', '--dport', String(INNER), '-j', 'DROP');
    sendPlain();
    await waitFor('the plain datagram at the device', async () => received() > before, 5000, 50).catch(() => undefined);
    expect(received()).toBe(before + 1);
    expect(await h1.rules.ensureDrops()).toBe(1); // host 1's INPUT drop back
    expect(await h2.rules.apply(await h2.tunnel.update({ keys: [{ id: 2, secret: secret(2) }], primary: 2 }, [h1.vtep]))).toBe(2);
  });

  it('fails closed: with the tunnel stopped nothing of the encrypted network crosses, not even in plaintext', async () => {
    await hosts[0]!.tunnel.stop();
    let result = { ok: true, out: '' };
    const pcap = await capture('stopped', () => void (result = ping(hosts[0]!.enc, '10.97.0.2')));
    expect(result.ok).toBe(false);
    expect(pcap.bytes.indexOf(pattern)).toBe(-1);
    await keysEverywhere([2], 2); // started again on demand
    expect(ping(hosts[0]!.enc, '10.97.0.2').out).toMatch(/5 received/);
  });

  it('keeps its rules idempotent and removes all of them', async () => {
    const h = hosts[0]!;
    const relays = await h.tunnel.update({ keys: [{ id: 2, secret: secret(2) }], primary: 2 }, hosts.map((x) => x.vtep));
    expect(await h.rules.apply(relays)).toBe(0);
    const nat = h.ns.exec('iptables', '-w', '-t', 'nat', '-S', TUNNEL_CHAIN);
    expect(nat).toContain(`-A ${TUNNEL_CHAIN} -d ${hosts[1]!.vtep}/32 -p udp -m udp --dport ${INNER} -j DNAT --to-destination 127.0.0.1:${relays.get(hosts[1]!.vtep)}`);
    // Junk in our chain and a flushed INPUT are put right.
    h.ns.exec('iptables', '-w', '-t', 'nat', '-A', TUNNEL_CHAIN, '-d', '192.0.2.1/32', '-j', 'ACCEPT');
    h.ns.exec('iptables', '-w', '-F', 'INPUT');
    expect(await h.rules.apply(relays)).toBe(2);
    expect(await h.rules.apply(relays)).toBe(0);
    expect(await h.rules.remove()).toBeGreaterThan(0);
    expect(await h.rules.remove()).toBe(0);
    const all = h.ns.exec('iptables', '-w', '-S') + h.ns.exec('iptables', '-w', '-t', 'nat', '-S');
    expect(all).not.toContain(String(INNER));
    expect(all).not.toContain(TUNNEL_CHAIN);
  });
});
