import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
export const REPO = resolve(import.meta.dirname, '..');
const LAB_SCRIPT = resolve(REPO, 'scripts/lab');

/** One lab (scripts/lab with TSO_LAB=name) as the benchmarks drive it: engines, namespaces, helpers. */
export class BenchLab {
  readonly state: string;

  constructor(readonly name: string, private readonly pluginArgs = '') {
    this.state = `/var/lib/ts-overlay-lab/${name}`;
  }

  /** scripts/lab ARGS for this lab; throws with its output on failure. */
  async script(...args: string[]): Promise<string> {
    const env = { ...process.env, TSO_LAB: this.name, TSO_LAB_PLUGIN_ARGS: this.pluginArgs };
    try {
      return (await run('bash', [LAB_SCRIPT, ...args], { env, maxBuffer: 16 * 1024 * 1024, timeout: 600_000 })).stdout;
    } catch (err) {
      const e = err as { stdout?: string; stderr?: string };
      throw new Error(`TSO_LAB=${this.name} scripts/lab ${args.join(' ')} failed:\n${e.stdout ?? ''}${e.stderr ?? ''}`);
    }
  }

  ns(host: number): string {
    return `${this.name}-h${host}`;
  }

  /** `docker` against host N's engine; throws with the engine's message. */
  async docker(host: number, ...args: string[]): Promise<string> {
    try {
      return (await run('docker', ['-H', `unix://${this.state}/h${host}/docker.sock`, ...args], { maxBuffer: 64 * 1024 * 1024, timeout: 120_000 })).stdout.trim();
    } catch (err) {
      const e = err as { stderr?: string; message: string };
      throw new Error(`${this.name} h${host}: docker ${args.join(' ')}: ${e.stderr?.trim() || e.message}`);
    }
  }

  /** A command in host N's network namespace (host 0: the underlay's). */
  async exec(host: number, ...cmd: string[]): Promise<string> {
    const ns = host === 0 ? `${this.name}-ul` : this.ns(host);
    return (await run('ip', ['netns', 'exec', ns, ...cmd], { maxBuffer: 16 * 1024 * 1024, timeout: 120_000 })).stdout;
  }

  /** Whether host N's engine lists a network of that name. */
  async hasNetwork(host: number, name: string): Promise<boolean> {
    return (await this.docker(host, 'network', 'ls', '--format', '{{.Name}}')).split('\n').includes(name);
  }

  async pidOf(host: number, container: string): Promise<string> {
    return this.docker(host, 'inspect', '-f', '{{.State.Pid}}', container);
  }

  async containerIp(host: number, container: string, network: string): Promise<string> {
    return this.docker(host, 'inspect', '-f', `{{(index .NetworkSettings.Networks "${network}").IPAddress}}`, container);
  }

  /**
   * What host N's engine logged at warning or error level since SINCE, each message once with
   * its count, most frequent first: why a path of this lab stopped answering, in a line.
   */
  async engineComplaints(host: number, since: Date, most = 5): Promise<string> {
    const log = await readFile(`${this.state}/h${host}/dockerd.log`, 'utf8').catch(() => '');
    const after = since.toISOString();
    const counts = new Map<string, number>();
    for (const m of log.matchAll(/^time="([^"]+)" level=(error|warning) msg="((?:[^"\\]|\\.)*)"/gm)) {
      if (m[1]! < after) continue;
      const msg = `${m[2]}: ${m[3]!.slice(0, 160)}`;
      counts.set(msg, (counts.get(msg) ?? 0) + 1);
    }
    const top = [...counts].sort((a, b) => b[1] - a[1]).slice(0, most);
    return `h${host} engine: ${top.length ? top.map(([msg, n]) => `${n}x ${msg}`).join(' | ') : 'no warnings or errors'}`;
  }

  /** Removes every container on every host (networks stay), except those whose name KEEP accepts. */
  async removeContainers(hosts = 2, keep: (name: string) => boolean = () => false): Promise<void> {
    for (let h = 1; h <= hosts; h++) {
      const ids = (await this.docker(h, 'ps', '-a', '--format', '{{.ID}} {{.Names}}'))
        .split('\n')
        .filter(Boolean)
        .map((line) => line.split(' ') as [string, string])
        .filter(([, name]) => !keep(name))
        .map(([id]) => id);
      if (ids.length) await this.docker(h, 'rm', '-f', ...ids);
    }
  }
}

/** The network namespace file of a container (by its first process) or of an `ip netns` name. */
export const containerNet = (pid: string) => `/proc/${pid}/ns/net`;
export const namedNet = (ns: string) => `/run/netns/${ns}`;

/** A command inside a network namespace file, from this (the root) mount namespace. */
export async function inNet(netFile: string, ...cmd: string[]): Promise<string> {
  return (await run('nsenter', [`--net=${netFile}`, ...cmd], { maxBuffer: 16 * 1024 * 1024, timeout: 120_000 })).stdout;
}

export function spawnInNet(netFile: string, ...cmd: string[]): ChildProcess {
  return spawn('nsenter', [`--net=${netFile}`, ...cmd], { stdio: ['ignore', 'pipe', 'ignore'] });
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function waitFor(what: string, probe: () => Promise<boolean> | boolean, timeoutMs = 10_000, everyMs = 20): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}
