import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Marker in every test etcd's command line, so that a later run can kill leftovers. */
export const TEST_ETCD_MARK = 'ts-overlay-test-etcd';

export interface EtcdServer {
  readonly endpoint: string;
  stop(): Promise<void>;
}

/** Kills test etcds left by an earlier, killed run. */
export function killLeftoverEtcd(): void {
  try {
    execFileSync('pkill', ['-f', `--name ${TEST_ETCD_MARK}`]);
  } catch {
    // nothing left over
  }
}

/**
 * A real, throwaway etcd on loopback (and optionally another listen address). With `netns`,
 * etcd (and the health probe) run inside that network namespace, so its loopback and ports
 * are the namespace's own and cannot clash with anything on the host.
 */
export async function startEtcd(opts: { clientPort: number; peerPort: number; host?: string; netns?: string }): Promise<EtcdServer> {
  const dir = mkdtempSync(join(tmpdir(), 'tso-etcd-'));
  const host = opts.host ?? '127.0.0.1';
  const client = `http://${host}:${opts.clientPort}`;
  // `ip netns exec` execs the command in place, so the child's pid is etcd's own.
  const inNetns = (cmd: string, args: string[]): [string, string[]] =>
    opts.netns === undefined ? [cmd, args] : ['ip', ['netns', 'exec', opts.netns, cmd, ...args]];
  const proc = spawn(...inNetns('etcd', [
    '--name', TEST_ETCD_MARK,
    '--data-dir', dir,
    '--listen-client-urls', client,
    '--advertise-client-urls', client,
    '--listen-peer-urls', `http://127.0.0.1:${opts.peerPort}`,
    '--initial-advertise-peer-urls', `http://127.0.0.1:${opts.peerPort}`,
    '--initial-cluster', `${TEST_ETCD_MARK}=http://127.0.0.1:${opts.peerPort}`,
    '--log-level', 'error',
  ]), { stdio: 'ignore' });
  const deadline = Date.now() + 15_000;
  for (;;) {
    try {
      execFileSync(...inNetns('etcdctl', ['--endpoints', client, 'endpoint', 'health']), { env: { ...process.env, ETCDCTL_API: '3' }, stdio: 'ignore' });
      break;
    } catch {
      if (Date.now() > deadline || proc.exitCode !== null) throw new Error(`etcd did not start on ${client}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  return {
    endpoint: client,
    async stop() {
      proc.kill('SIGTERM');
      await new Promise((r) => proc.once('exit', r));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
