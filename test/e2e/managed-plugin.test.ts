import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmdirSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { owned } from '../helpers/instance.js';
import { REPO, waitFor } from '../helpers/lab.js';

/**
 * ts-overlay installed the way Docker users install plugins: scripts/plugin-build assembles the
 * managed plugin once and creates it on both engines, each engine runs it (host network, its
 * own rootfs), and the source documents' scenario runs through it. A lab of its own, `mp`,
 * started without the bare plugin processes, so only the managed plugin can answer; the e2e
 * suite's lab and a person's `tso` lab are never touched.
 */
const LAB = owned('mp');
const STATE = `/var/lib/ts-overlay-lab/${LAB}`;
const HOSTS = [1, 2] as const;
const PLUGIN = 'ts-overlay';
/** The engine stores a created plugin as NAME:TAG and knows its drivers only by that name. */
const DRIVER = `${PLUGIN}:latest`;
const BUILD_DIR = join(process.env.TMPDIR ?? '/var/tmp', 'ts-overlay-plugin');

interface Result { readonly ok: boolean; readonly stdout: string; readonly stderr: string }

const execFileP = promisify(execFile);
async function run(cmd: string, args: string[], timeoutMs = 120_000): Promise<Result> {
  try {
    const { stdout, stderr } = await execFileP(cmd, args, { env: { ...process.env, TSO_LAB: LAB }, timeout: timeoutMs, maxBuffer: 32 * 1024 * 1024 });
    return { ok: true, stdout: stdout.trim(), stderr: stderr.trim() };
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; message?: string };
    return { ok: false, stdout: (e.stdout ?? '').trim(), stderr: (e.stderr ?? e.message ?? '').trim() };
  }
}
async function must(what: string, r: Promise<Result>): Promise<string> {
  const res = await r;
  if (!res.ok) throw new Error(`${what} failed:\n${res.stderr || res.stdout}`);
  return res.stdout;
}

const lab = (...args: string[]) => run('bash', [`${REPO}/scripts/lab`, ...args], 300_000);
const engine = (h: number) => `unix://${STATE}/h${h}/docker.sock`;
const docker = (h: number, ...args: string[]) => run('docker', ['-H', engine(h), ...args]);
const dockerOk = (h: number, ...args: string[]) => must(`docker ${args.join(' ')} on h${h}`, docker(h, ...args));
const inHost = (h: number, ...cmd: string[]) => run('ip', ['netns', 'exec', `${LAB}-h${h}`, ...cmd]);
const networkNames = async (h: number) => (await dockerOk(h, 'network', 'ls', '--format', '{{.Name}}')).split('\n');

/**
 * The engines put managed plugins in cgroups of their own at the hierarchy's top (/<plugin id>),
 * outside the lab's cgroup parent, so `lab down` cannot see them. `docker plugin rm -f` removes
 * them; after a killed run, the ids left in the lab's data roots find the empty leftovers.
 */
function pluginIdsOnDisk(): string[] {
  const ids: string[] = [];
  for (const h of existsSync(STATE) ? readdirSync(STATE).filter((d) => /^h\d+$/.test(d)) : []) {
    const dir = join(STATE, h, 'data', 'plugins');
    if (existsSync(dir)) ids.push(...readdirSync(dir).filter((d) => /^[0-9a-f]{64}$/.test(d)));
  }
  return ids;
}
function removePluginCgroups(ids: string[]): void {
  if (ids.length === 0) return;
  const wanted = new Set(ids);
  const walk = (dir: string, depth: number): void => {
    let entries: string[];
    try {
      entries = readdirSync(dir, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name);
    } catch {
      return;
    }
    for (const name of entries) {
      const path = join(dir, name);
      if (wanted.has(name)) {
        try { rmdirSync(path); } catch { /* still in use or already gone */ }
      } else if (depth < 3) {
        walk(path, depth + 1);
      }
    }
  };
  walk('/sys/fs/cgroup', 0);
}

async function removePluginsAndLab(): Promise<void> {
  const ids = pluginIdsOnDisk();
  for (const h of HOSTS) {
    if (existsSync(`${STATE}/h${h}/docker.sock`)) await docker(h, 'plugin', 'rm', '-f', PLUGIN);
  }
  const down = await lab('down');
  removePluginCgroups(ids);
  if (!down.ok) throw new Error(`lab ${LAB} down failed: ${down.stderr}`);
}

let buildLog = '';

beforeAll(async () => {
  const t0 = Date.now();
  await removePluginsAndLab(); // leftovers of a killed earlier run
  await must(`lab ${LAB} up`, lab('up', '--hosts', String(HOSTS.length), '--no-plugin'));
  const t1 = Date.now();
  // One build, created on both engines from the same folder.
  const build = await run('bash', [`${REPO}/scripts/plugin-build`, ...HOSTS.flatMap((h) => ['--docker-host', engine(h)]), PLUGIN], 600_000);
  if (!build.ok) throw new Error(`plugin-build failed:\n${build.stderr}\n${build.stdout}`);
  buildLog = build.stderr;
  const t2 = Date.now();
  for (const h of HOSTS) {
    await dockerOk(h, 'plugin', 'set', PLUGIN, 'TS_OVERLAY_ETCD=http://198.18.0.2:2379', `TS_OVERLAY_ADVERTISE_ADDR=198.18.0.${10 + h}`,
      `TS_OVERLAY_NODE_NAME=h${h}`, `docker-socket.source=${STATE}/h${h}/docker.sock`);
  }
  // The engine first looks for the plugin's socket 0.5 s after starting it, then every 3 s:
  // the plugin listens before that (PluginSocket); both are enabled at once all the same.
  const t3 = Date.now();
  await Promise.all(HOSTS.map((h) => dockerOk(h, 'plugin', 'enable', PLUGIN)));
  const t4 = Date.now();
  const size = (await must('du', run('du', ['-sh', join(BUILD_DIR, 'rootfs')]))).split('\t')[0];
  console.log(`managed plugin: rootfs ${size} (${BUILD_DIR}/rootfs); lab up ${((t1 - t0) / 1000).toFixed(1)} s, ` +
    `plugin-build ${((t2 - t1) / 1000).toFixed(1)} s, set ${((t3 - t2) / 1000).toFixed(1)} s, enable ${((t4 - t3) / 1000).toFixed(1)} s\n` +
    buildLog.split('\n').filter((l) => /rootfs|created/.test(l)).join('\n'));
});

afterAll(async () => {
  if (process.env.TSO_KEEP_LAB) return; // for debugging a failed run
  await removePluginsAndLab();
});

describe('the managed plugin', () => {
  it('runs on each engine as NAME:latest, with host networking, CAP_NET_ADMIN (and NET_BIND_SERVICE for DNS) and the engine socket it was given', async () => {
    for (const h of HOSTS) {
      const p = JSON.parse(await dockerOk(h, 'plugin', 'inspect', PLUGIN))[0];
      expect(p).toMatchObject({ Name: DRIVER, Enabled: true });
      expect(p.Config.Network.Type).toBe('host');
      // NET_BIND_SERVICE: the DNS responder listens on port 53.
      expect(p.Config.Linux.Capabilities).toEqual(['CAP_NET_ADMIN', 'CAP_NET_BIND_SERVICE']);
      expect(p.Settings.Env).toContain(`TS_OVERLAY_DRIVER_NAME=${DRIVER}`); // set by plugin-build
      expect(p.Settings.Mounts.find((m: { Name: string }) => m.Name === 'docker-socket').Source).toBe(`${STATE}/h${h}/docker.sock`);
      // Only the managed plugin's socket (in its own folder) exists: no bare process answers.
      expect(existsSync(`${STATE}/h${h}/run-docker/plugins/${p.Id}/ts-overlay.sock`)).toBe(true);
      expect(existsSync(`${STATE}/h${h}/run-docker/plugins/ts-overlay.sock`)).toBe(false);
    }
  });

  it('is known to the engine only as NAME:latest: the bare name is refused by the engine itself', async () => {
    // libnetwork registers a managed plugin's drivers under the plugin's full name; `--alias`
    // and `plugin create` both add the tag. (A bare-process ts-overlay is `-d ts-overlay`.)
    const bare = await docker(1, 'network', 'create', '-d', PLUGIN, '--ipam-driver', PLUGIN, 'bare');
    expect(bare.ok).toBe(false);
    expect(bare.stderr).toMatch(/could not resolve driver ts-overlay in registry|invalid ipam driver: "ts-overlay"/);
    expect(await networkNames(1)).not.toContain('bare');
  });

  it('reproduces the source documents: demo on host 1 appears on host 2, containers ping across', async () => {
    const created = await docker(1, 'network', 'create', '-d', DRIVER, '--ipam-driver', DRIVER, 'demo');
    expect(created.ok, created.stderr).toBe(true);
    // `plugin enable` returns once the socket answers, which can be before the plugin follows etcd.
    await waitFor('demo on host 2 (copied by the plugin)', async () => (await networkNames(2)).includes('demo'), 20_000);
    for (const h of HOSTS) {
      expect(await dockerOk(h, 'network', 'ls', '--filter', 'name=^demo$', '--format', '{{.Driver}}')).toBe(DRIVER);
      const ipam = JSON.parse(await dockerOk(h, 'network', 'inspect', '-f', '{{json .IPAM.Config}}', 'demo'));
      expect(ipam[0].Subnet).toMatch(/^10\.\d+\.\d+\.0\/24$/);
    }

    const ips: string[] = [];
    for (const h of HOSTS) {
      const name = `test${h}`;
      await dockerOk(h, 'run', '-d', '--name', name, '--net', 'demo', 'busybox', 'sh', '-c', 'while true; do sleep 3600; done');
      const ip = await dockerOk(h, 'inspect', '-f', '{{(index .NetworkSettings.Networks "demo").IPAddress}}', name);
      expect(ip).toMatch(/^10\.\d+\.\d+\.\d+$/);
      ips.push(ip);

      // eth0 on the overlay with the underlay MTU (1500) minus VXLAN's 50 bytes.
      expect(await dockerOk(h, 'exec', name, 'cat', '/sys/class/net/eth0/mtu')).toBe('1450');
      expect(await dockerOk(h, 'exec', name, 'ip', '-o', '-4', 'addr', 'show', 'eth0')).toContain(`inet ${ip}/24`);
      // eth1's peer in the host namespace is a port of docker_gwbridge.
      const peer = await dockerOk(h, 'exec', name, 'cat', '/sys/class/net/eth1/iflink');
      const gwPorts = await must('ip link', inHost(h, 'ip', '-o', 'link', 'show', 'master', 'docker_gwbridge'));
      expect(gwPorts.split('\n').map((l) => l.split(':')[0])).toContain(peer);
      expect(await dockerOk(h, 'exec', name, 'ip', '-o', '-4', 'addr', 'show', 'eth1')).toMatch(/inet 172\.18\.\d+\.\d+\/16/);
    }
    expect(ips[0]).not.toBe(ips[1]);

    expect(await dockerOk(2, 'exec', 'test2', 'ping', '-c', '3', '-W', '2', ips[0]!)).toMatch(/3 packets received/);
    expect(await dockerOk(1, 'exec', 'test1', 'ping', '-c', '3', '-W', '2', ips[1]!)).toMatch(/3 packets received/);
  });

  it('removes containers and the network from both hosts and leaves no device behind', async () => {
    await dockerOk(1, 'rm', '-f', 'test1');
    await dockerOk(2, 'rm', '-f', 'test2');
    await dockerOk(1, 'network', 'rm', 'demo');
    await waitFor('demo gone from host 2', async () => !(await networkNames(2)).includes('demo'), 5000);
    const devices = async (h: number) => (await must('ip link', inHost(h, 'ip', '-br', 'link'))).split('\n').filter((l) => /^ts(vx|h|c)-/.test(l));
    for (const h of HOSTS) {
      await waitFor(`no ts-overlay device on h${h}`, async () => (await devices(h)).length === 0, 5000).catch(() => undefined);
      expect(await devices(h)).toEqual([]);
    }
    // The engine writes the plugin's output (pino JSON) into its own log, tagged plugin=<id>.
    for (const h of HOSTS) {
      const id = await dockerOk(h, 'plugin', 'inspect', '-f', '{{.Id}}', PLUGIN);
      const lines = readFileSync(`${STATE}/h${h}/dockerd.log`, 'utf8').split('\n').filter((l) => l.includes(`plugin=${id}`));
      expect(lines.length).toBeGreaterThan(0);
      expect(lines.filter((l) => /\\"level\\":(50|60)/.test(l)), `errors logged by the plugin on h${h}`).toEqual([]);
    }
  });
});
