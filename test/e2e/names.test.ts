import { type ChildProcess, spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { containerIp, docker, dockerOk, E2E_ETCD_MEMBERS, E2E_LAB, etcdctl, inHost, lab, networkNames, REPO, resetLab, runBusybox, waitFor } from '../helpers/lab.js';

/**
 * Issue 7 on real engines: containers find each other by name across hosts. Each lab engine
 * runs with `dns: ["169.254.53.53"]` (scripts/lab), so a name the engine's embedded resolver
 * does not know goes to ts-overlay's responder on that host; the responder forwards other
 * names to 198.18.0.2 (the lab's --dns-upstream), where this file runs a DNS server of its own.
 */
const RESPONDER = '169.254.53.53';
const UPSTREAM = '198.18.0.2';
const EXTERNAL = { name: 'ext.lab.test', ip: '192.0.2.77' };

let upstream: ChildProcess | undefined;

const create = (host: number, name: string, ...args: string[]) =>
  dockerOk(host, 'network', 'create', '-d', 'ts-overlay', '--ipam-driver', 'ts-overlay', ...args, name);
const onHost2 = async (name: string) => waitFor(`${name} on host 2`, async () => (await networkNames(2)).includes(name));

/** The addresses busybox nslookup printed for the name (none when it failed). */
async function lookup(host: number, container: string, name: string, server?: string): Promise<{ ips: string[]; output: string }> {
  const r = await docker(host, 'exec', container, 'nslookup', name, ...(server ? [server] : []));
  const output = `${r.stdout}\n${r.stderr}`;
  const answer = output.split(/\nName:\s/).slice(1).join('\n');
  const ips = [...answer.matchAll(/Address(?: \d+)?:\s+(\d+\.\d+\.\d+\.\d+)/g)].map((m) => m[1]!);
  return { ips: [...new Set(ips)].sort(), output };
}

beforeAll(async () => {
  await resetLab();
  upstream = spawn('ip', ['netns', 'exec', `${E2E_LAB}-ul`, resolve(REPO, 'node_modules/.bin/tsx'), resolve(REPO, 'test/helpers/tiny-dns-server.ts'), UPSTREAM, `${EXTERNAL.name}=${EXTERNAL.ip}`], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((ok, fail) => {
    upstream!.stdout!.on('data', (d: Buffer) => d.toString().includes('listening') && ok());
    upstream!.on('exit', (code) => fail(new Error(`the test's DNS server exited (${code})`)));
  });
  await create(1, 'names', '--subnet', '10.97.0.0/24');
  await create(1, 'elsewhere', '--subnet', '10.98.0.0/24');
  await onHost2('names');
  await onHost2('elsewhere');
});

afterAll(async () => {
  upstream?.kill();
  await resetLab();
});

describe('names across hosts', () => {
  it('lets a container on host 2 ping one on host 1 by name (the source documents\' `ping test1`)', async () => {
    await runBusybox(1, 'test1', '--net', 'names');
    await runBusybox(2, 'test2', '--net', 'names');
    const ip1 = await containerIp(1, 'test1', 'names');
    const ping = await dockerOk(2, 'exec', 'test2', 'ping', '-c', '2', '-W', '2', 'test1');
    expect(ping).toContain(`PING test1 (${ip1})`);
    expect(ping).toMatch(/2 packets received/);
    // The short ID too, and the reverse lookup of its address.
    const id = (await dockerOk(1, 'inspect', '-f', '{{.Id}}', 'test1')).slice(0, 12);
    expect((await lookup(2, 'test2', id)).ips).toEqual([ip1]);
    const ptr = await docker(2, 'exec', 'test2', 'nslookup', ip1);
    expect(ptr.stdout).toMatch(/name = test1/);
  });

  it('gives every address of an alias that two containers on two hosts share', async () => {
    await dockerOk(1, 'run', '-d', '--name', 'alias1', '--net', 'names', '--network-alias', 'shared', 'busybox', 'sleep', '3600');
    await dockerOk(2, 'run', '-d', '--name', 'alias2', '--net', 'names', 'busybox', 'sleep', '3600');
    await dockerOk(2, 'network', 'disconnect', 'names', 'alias2');
    await dockerOk(2, 'network', 'connect', '--alias', 'shared', 'names', 'alias2'); // the other way to give an alias
    const both = [await containerIp(1, 'alias1', 'names'), await containerIp(2, 'alias2', 'names')].sort();
    // Asked from host 2 of the responder itself: the engine's embedded resolver would answer
    // only its local holder of the alias (README, "Names").
    await waitFor('both holders of the alias', async () => JSON.stringify((await lookup(2, 'test2', 'shared', RESPONDER)).ips) === JSON.stringify(both));
    // From host 1 through the engine, the remote holder's own name resolves as well.
    expect((await lookup(1, 'test1', 'alias2')).ips).toEqual([await containerIp(2, 'alias2', 'names')]);
  });

  it('answers NXDOMAIN to a container on another ts-overlay network', async () => {
    await runBusybox(2, 'stranger', '--net', 'elsewhere');
    const r = await lookup(2, 'stranger', 'test1');
    expect(r.ips).toEqual([]);
    expect(r.output).toMatch(/NXDOMAIN/);
    expect((await lookup(2, 'stranger', 'test1', RESPONDER)).output).toMatch(/NXDOMAIN/);
  });

  it('resolves names on an --internal network, whose containers reach the host on DNS only', async () => {
    await create(1, 'sealed', '--internal', '--subnet', '10.96.0.0/24');
    await onHost2('sealed');
    await runBusybox(1, 'in1', '--net', 'sealed');
    await runBusybox(2, 'in2', '--net', 'sealed');
    expect(await dockerOk(2, 'exec', 'in2', 'ping', '-c', '1', '-W', '2', 'in1')).toContain(`(${await containerIp(1, 'in1', 'sealed')})`);
    // The route to the responder goes through the container's own interface.
    expect(await dockerOk(2, 'exec', 'in2', 'ip', 'route')).toMatch(new RegExp(`${RESPONDER.replace(/\./g, '\\.')} dev eth0`));
    // Anything but DNS to the host is dropped.
    expect((await docker(2, 'exec', 'in2', 'ping', '-c', '1', '-W', '1', RESPONDER)).ok).toBe(false);
    expect((await inHost(2, 'iptables', '-w', '-S', 'TS-OVERLAY-HOST')).stdout).toContain('-j DROP');
  });

  it('resolves names that are not ts-overlay\'s through the forwarder', async () => {
    expect((await lookup(2, 'test2', EXTERNAL.name)).ips).toEqual([EXTERNAL.ip]);
    expect((await lookup(2, 'in2', EXTERNAL.name)).ips).toEqual([EXTERNAL.ip]); // --internal too
    const unknown = await lookup(2, 'test2', 'nothing.lab.test');
    expect(unknown.ips).toEqual([]);
    expect(unknown.output).toMatch(/NXDOMAIN/); // the upstream's own answer, relayed
  });

  it('keeps answering cached names, and forwarding, while etcd is down', async () => {
    for (let m = 1; m <= E2E_ETCD_MEMBERS; m++) expect((await lab('etcd-stop', String(m))).ok).toBe(true);
    try {
      expect((await lookup(2, 'test2', 'test1')).ips).toEqual([await containerIp(1, 'test1', 'names')]);
      expect((await lookup(2, 'test2', EXTERNAL.name)).ips).toEqual([EXTERNAL.ip]);
    } finally {
      for (let m = 1; m <= E2E_ETCD_MEMBERS; m++) expect((await lab('etcd-start', String(m))).ok).toBe(true);
    }
    // Back: a container started now is named on the other host.
    await waitFor('a container starts again', async () => (await docker(1, 'run', '-d', '--name', 'after', '--net', 'names', 'busybox', 'sleep', '600')).ok || (await docker(1, 'rm', '-f', 'after'), false), 30_000, 500);
    await waitFor('after resolves on host 2', async () => (await lookup(2, 'test2', 'after')).ips.length === 1, 15_000, 200);
  });

  it('drops the names of a stopped container and gives them back when it starts again', async () => {
    await dockerOk(1, 'stop', '-t', '0', 'alias1');
    await waitFor('alias1 gone on host 2', async () => (await lookup(2, 'test2', 'alias1', RESPONDER)).ips.length === 0);
    expect((await lookup(2, 'test2', 'shared', RESPONDER)).ips).toEqual([await containerIp(2, 'alias2', 'names')]);
    await dockerOk(1, 'start', 'alias1');
    const ip = await containerIp(1, 'alias1', 'names');
    await waitFor('alias1 back on host 2', async () => JSON.stringify((await lookup(2, 'test2', 'alias1', RESPONDER)).ips) === JSON.stringify([ip]));
  });

  it('forgets every name of a removed container on every host', async () => {
    const id = (await dockerOk(1, 'inspect', '-f', '{{.Id}}', 'test1')).slice(0, 12);
    await dockerOk(1, 'rm', '-f', 'test1');
    for (const name of ['test1', id]) {
      // Host 2 forgets it when its watch brings the removal: usually before `rm` returns, not always.
      const r = await waitFor(`${name} gone on host 2`, async () => {
        const answer = await lookup(2, 'test2', name, RESPONDER);
        return answer.ips.length === 0 && /NXDOMAIN/.test(answer.output) && answer; // not a lookup that timed out
      });
      expect(r.ips, name).toEqual([]);
      expect(r.output).toMatch(/NXDOMAIN/); // not ours any more: the upstream's answer
    }
    // And no record of it is left in etcd.
    const records = (await etcdctl('get', '--prefix', '/ts-overlay/names/', '--print-value-only')).stdout;
    expect(records).toMatch(/"test2"/);
    expect(records).not.toMatch(/"test1"/);
  });
});
