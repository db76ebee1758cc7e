import { execFile } from 'node:child_process';
import { resolve } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** The lab the e2e suite owns; a person's own lab ("tso") is never touched. */
export const E2E_LAB = 'e2e';
export const REPO = resolve(import.meta.dirname, '../..');
export const LAB_SCRIPT = resolve(REPO, 'scripts/lab');
export const LAB_STATE = `/var/lib/ts-overlay-lab/${E2E_LAB}`;

const env = () => ({ ...process.env, TSO_LAB: E2E_LAB });

export interface Result {
  readonly ok: boolean;
  readonly stdout: string;
  readonly stderr: string;
}

async function exec(cmd: string, args: string[], timeoutMs = 120_000): Promise<Result> {
  try {
    const { stdout, stderr } = await run(cmd, args, { env: env(), timeout: timeoutMs, maxBuffer: 32 * 1024 * 1024 });
    return { ok: true, stdout: stdout.trim(), stderr: stderr.trim() };
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string };
    return { ok: false, stdout: (e.stdout ?? '').trim(), stderr: (e.stderr ?? '').trim() };
  }
}

export const lab = (...args: string[]) => exec('bash', [LAB_SCRIPT, ...args], 600_000);

/** `docker` against host N's engine. */
export const docker = (host: number, ...args: string[]) => exec('docker', ['-H', `unix://${LAB_STATE}/h${host}/docker.sock`, ...args]);

/** Like docker(), but throws with the engine's message on failure. */
export async function dockerOk(host: number, ...args: string[]): Promise<string> {
  const r = await docker(host, ...args);
  if (!r.ok) throw new Error(`docker ${args.join(' ')} on h${host} failed: ${r.stderr || r.stdout}`);
  return r.stdout;
}

/** A command in host N's network namespace (what the plugin sees). */
export const inHost = (host: number, cmd: string, ...args: string[]) => exec('ip', ['netns', 'exec', `${E2E_LAB}-h${host}`, cmd, ...args]);

/** etcdctl against the lab's etcd, from the underlay namespace. */
export const etcdctl = (...args: string[]) =>
  exec('ip', ['netns', 'exec', `${E2E_LAB}-ul`, 'env', 'ETCDCTL_API=3', 'etcdctl', '--endpoints', 'http://198.18.0.2:2379', ...args]);

export async function waitFor<T>(what: string, probe: () => Promise<T | undefined | false>, timeoutMs = 10_000, everyMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

export const networkNames = async (host: number) => (await dockerOk(host, 'network', 'ls', '--format', '{{.Name}}')).split('\n');

/** The container's address on a network, from the engine. */
export const containerIp = async (host: number, container: string, network: string) =>
  dockerOk(host, 'inspect', '-f', `{{(index .NetworkSettings.Networks "${network}").IPAddress}}`, container);

export const runBusybox = (host: number, name: string, ...netArgs: string[]) =>
  dockerOk(host, 'run', '-d', '--name', name, ...netArgs, 'busybox', 'sh', '-c', 'while true; do sleep 3600; done');

/** Removes every container and every ts-overlay network on every lab host: a clean slate. */
export async function resetLab(hosts = 2): Promise<void> {
  for (let h = 1; h <= hosts; h++) {
    const ids = (await docker(h, 'ps', '-aq')).stdout.split('\n').filter(Boolean);
    if (ids.length) await docker(h, 'rm', '-f', ...ids);
  }
  for (let h = 1; h <= hosts; h++) {
    const nets = (await docker(h, 'network', 'ls', '--filter', 'driver=ts-overlay', '-q')).stdout.split('\n').filter(Boolean);
    for (const n of nets) await docker(h, 'network', 'rm', n);
  }
  await waitFor('every host to drop its ts-overlay networks', async () => {
    for (let h = 1; h <= hosts; h++) {
      if ((await docker(h, 'network', 'ls', '--filter', 'driver=ts-overlay', '-q')).stdout) return false;
    }
    return true;
  }, 15_000, 200);
}
