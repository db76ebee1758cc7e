import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TUNNEL_CHAIN } from '../../src/dataplane/tunnel-rules.js';
import { type Capture, captureWhile } from '../helpers/capture.js';
import { containerIp, docker, dockerOk, lab, E2E_ENCRYPTION_KEY_ROTATION, E2E_LAB, ETCD_ENDPOINTS, etcdctl, inHost, networkNames, pingInBackground, REPO, resetLab, runBusybox, waitFor } from '../helpers/lab.js';

/**
 * Encrypted networks on real engines: containers on an `-o encrypted=true` network talk across
 * the two lab hosts while host 1's underlay interface is captured; a payload only the two
 * containers know must not appear in the capture, and the same payload on a plain network in
 * the same lab must (the control: the check can fail). Keys rotate (the lab's plugins run with
 * a short --encryption-key-rotation) under a running ping without losing one.
 */
const PAYLOAD = 'ts-overlay-e2e-secret-payload-4f1c9a';
const ENC_PORT = 4790;
const cliOnHost = (host: number, ...args: string[]) => inHost(host, 'node', `${REPO}/dist/main.js`, ...args, '--etcd', ETCD_ENDPOINTS, '--node-name', `h${host}`);
const keySet = async () => JSON.parse((await etcdctl('get', '--print-value-only', '/ts-overlay/encryption/keys')).stdout) as { keys: Array<{ id: number }>; primary: number };

let captures = '';
const ips: Record<string, string> = {};

/** Sends PAYLOAD over TCP from container `from` on host 1 to `to` on host 2; returns what `to` received. */
async function sendPayload(from: string, to: string, network: string): Promise<string> {
  // Busybox's nc shuts its sending half as soon as its stdin ends, and exits as soon as the
  // peer's half ends. A listener with an empty stdin (`exec -d`) would close towards the sender
  // at once, and a sender whose `echo` had not yet run would then exit without sending: an
  // empty capture on a busy machine. Fed by `sleep`, the listener closes only after it has read
  // the sender's end, so the sender returns after the payload is in /tmp/got.
  await dockerOk(2, 'exec', '-d', to, 'sh', '-c', 'rm -f /tmp/got; sleep 3600 | nc -l -p 7777 > /tmp/got');
  // `exec -d` returns before nc listens; a connection before that is refused and sends nothing.
  await waitFor(`nc listening in ${to}`, async () => (await docker(2, 'exec', to, 'netstat', '-ltn')).stdout.includes(':7777 '), 5000, 50);
  await dockerOk(1, 'exec', from, 'sh', '-c', `echo ${PAYLOAD} | timeout 5 nc ${ips[`${to}@${network}`]} 7777`);
  return (await docker(2, 'exec', to, 'cat', '/tmp/got')).stdout;
}

/** Captures host 1's underlay interface while `traffic` runs. */
function capture(name: string, traffic: () => Promise<unknown>): Promise<Capture> {
  return captureWhile(`${E2E_LAB}-h1`, 'eth0', join(captures, `${name}.pcap`), traffic);
}

beforeAll(async () => {
  await resetLab();
  captures = mkdtempSync(join(tmpdir(), 'tso-e2e-enc-'));
  await dockerOk(1, 'network', 'create', '-d', 'ts-overlay', '--ipam-driver', 'ts-overlay', '--subnet', '10.96.0.0/24', '-o', 'encrypted=true', 'sealed');
  await dockerOk(1, 'network', 'create', '-d', 'ts-overlay', '--ipam-driver', 'ts-overlay', '--subnet', '10.94.0.0/24', 'open');
  await waitFor('both networks on host 2', async () => (await networkNames(2)).includes('sealed') && (await networkNames(2)).includes('open'), 15_000);
  await runBusybox(1, 's1', '--net', 'sealed');
  await runBusybox(2, 's2', '--net', 'sealed');
  await runBusybox(1, 'o1', '--net', 'open');
  await runBusybox(2, 'o2', '--net', 'open');
  ips['s2@sealed'] = await containerIp(2, 's2', 'sealed');
  ips['o2@open'] = await containerIp(2, 'o2', 'open');
});

afterAll(async () => {
  try {
    await resetLab();
  } finally {
    rmSync(captures, { recursive: true, force: true });
  }
});

describe('encrypted networks', () => {
  it('are recorded as encrypted for every host, shown by status, and leave room for the tunnel in the MTU', async () => {
    const status = (await cliOnHost(2, 'status')).stdout;
    expect(status).toMatch(/sealed\s+10\.96\.0\.0\/24\s+\d+\s+yes/);
    expect(status).toMatch(/open\s+10\.94\.0\.0\/24\s+\d+\s+no/);
    expect(status).toMatch(/ENCRYPTION KEYS: #\d+/);
    expect(status).not.toMatch(/secret/i);
    const mtu = async (host: number, c: string) => Number((await dockerOk(host, 'exec', c, 'cat', '/sys/class/net/eth0/mtu')).trim());
    expect(await mtu(1, 'o1')).toBe(1450);
    expect(await mtu(1, 's1')).toBe(1410);
    expect(await mtu(2, 's2')).toBe(1410);
  });

  it('take Docker\'s bare --opt encrypted, and refuse a value that is not a boolean', async () => {
    await dockerOk(1, 'network', 'create', '-d', 'ts-overlay', '--ipam-driver', 'ts-overlay', '--subnet', '10.93.0.0/24', '--opt', 'encrypted', 'bare');
    try {
      expect((await cliOnHost(1, 'status')).stdout).toMatch(/bare\s+10\.93\.0\.0\/24\s+\d+\s+yes/);
    } finally {
      await dockerOk(1, 'network', 'rm', 'bare');
    }
    const bad = await docker(1, 'network', 'create', '-d', 'ts-overlay', '--ipam-driver', 'ts-overlay', '--subnet', '10.92.0.0/24', '-o', 'encrypted=yes', 'bad');
    expect(bad.ok).toBe(false);
    expect(bad.stderr).toContain('option encrypted="yes" must be true, false or empty');
  });

  it('carry a payload between hosts that the underlay never shows', async () => {
    let received = '';
    const cap = await capture('sealed', async () => (received = await sendPayload('s1', 's2', 'sealed')));
    expect(received).toContain(PAYLOAD);
    expect(cap.count(`udp port ${ENC_PORT}`)).toBeGreaterThan(0);
    expect(cap.bytes.indexOf(Buffer.from(PAYLOAD))).toBe(-1);
  });

  it('while the plain network in the same lab shows it (the control)', async () => {
    let received = '';
    const cap = await capture('open', async () => (received = await sendPayload('o1', 'o2', 'open')));
    expect(received).toContain(PAYLOAD);
    expect(cap.bytes.indexOf(Buffer.from(PAYLOAD))).toBeGreaterThan(0);
  });

  it('rotate keys under a running ping without losing one', async () => {
    const before = await keySet();
    const ping = pingInBackground(1, 's1', ips['s2@sealed']!, 10 * (E2E_ENCRYPTION_KEY_ROTATION * 2 + 10));
    // A full rotation (add, promote, retire) lands within one interval plus two graces.
    const after = await waitFor('a completed key rotation', async () => {
      const s = await keySet();
      return s.primary > before.primary && s.keys.length === 1 && s;
    }, (E2E_ENCRYPTION_KEY_ROTATION * 2 + 5) * 1000, 200);
    const result = await ping;
    expect(after.primary).toBeGreaterThan(before.primary);
    expect(result.sent).toBeGreaterThan(100);
    expect(result.received).toBe(result.sent);
  }, 120_000);

  it('carry traffic again after the plugin restarts, with one tunnel process per host', async () => {
    expect((await lab('plugin-restart', '1')).ok).toBe(true);
    await waitFor('s1 reaches s2 again', async () => (await docker(1, 'exec', 's1', 'ping', '-c', '1', '-W', '1', ips['s2@sealed']!)).ok, 20_000, 200);
    const ping = await pingInBackground(1, 's1', ips['s2@sealed']!, 20);
    expect(ping.received).toBe(ping.sent);
    const processes = (await inHost(1, 'pgrep', '-f', 'crypto-tunnel-process')).stdout.split('\n').filter(Boolean);
    expect(processes.length).toBeGreaterThan(0);
    // This machine runs every lab host's tunnel: count those bound in host 1's namespace.
    const inHost1 = [];
    for (const pid of processes) {
      const ns = (await inHost(1, 'ip', 'netns', 'identify', pid)).stdout.trim();
      if (ns === `${E2E_LAB}-h1`) inHost1.push(pid);
    }
    expect(inHost1).toHaveLength(1);
  });

  it('leave no tunnel rules behind once the last encrypted network is gone', async () => {
    expect((await inHost(1, 'iptables', '-w', '-t', 'nat', '-S')).stdout).toContain(TUNNEL_CHAIN);
    await docker(1, 'rm', '-f', 's1');
    await docker(2, 'rm', '-f', 's2');
    await dockerOk(1, 'network', 'rm', 'sealed');
    for (const host of [1, 2]) {
      await waitFor(`host ${host} without tunnel rules`, async () => {
        const rules = (await inHost(host, 'iptables', '-w', '-t', 'nat', '-S')).stdout + (await inHost(host, 'iptables', '-w', '-S')).stdout;
        return !rules.includes(TUNNEL_CHAIN) && !rules.includes(`--dport ${ENC_PORT + 1}`);
      }, 20_000, 200);
    }
  });
});
