import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { owned } from './instance.js';

/** Marker in every test etcd's command line, so that a later run can kill leftovers. */
export const TEST_ETCD_MARK = owned('ts-overlay-test-etcd');

export interface EtcdServer {
  readonly endpoint: string;
  stop(): Promise<void>;
}

/** Kills test etcds left by an earlier, killed run. */
export function killLeftoverEtcd(): void {
  try {
    // The space after the mark: the run without TSO_TEST_ID must not match ts-overlay-test-etcd5.
    // `--`: the pattern starts with a dash, which pkill would otherwise take for an option.
    execFileSync('pkill', ['-f', '--', `--name ${TEST_ETCD_MARK} --data-dir`], { stdio: 'ignore' });
  } catch {
    // nothing left over
  }
}

/**
 * A real, throwaway etcd on loopback (and optionally another listen address). With `netns`,
 * etcd (and the health probe) run inside that network namespace, so its loopback and ports
 * are the namespace's own and cannot clash with anything on the host.
 */
/** Files of a test PKI: the CA, etcd's server pair, and a client pair signed by the CA. */
export interface TestTls {
  readonly ca: string;
  readonly serverCert: string;
  readonly serverKey: string;
  readonly clientCert: string;
  readonly clientKey: string;
}

/** A throwaway CA with a server certificate for 127.0.0.1 and a client certificate (openssl). */
export function makeTestTls(dir: string): TestTls {
  const f = (name: string) => join(dir, name);
  const ssl = (...args: string[]) => execFileSync('openssl', args, { stdio: 'ignore' });
  ssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=ts-overlay test CA', '-keyout', f('ca.key'), '-out', f('ca.crt'));
  for (const [name, ext] of [['server', 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth'], ['client', 'extendedKeyUsage=clientAuth']] as const) {
    ssl('req', '-newkey', 'rsa:2048', '-nodes', '-subj', `/CN=${name}`, '-keyout', f(`${name}.key`), '-out', f(`${name}.csr`));
    writeFileSync(f(`${name}.ext`), ext);
    ssl('x509', '-req', '-in', f(`${name}.csr`), '-CA', f('ca.crt'), '-CAkey', f('ca.key'), '-CAcreateserial', '-days', '1', '-extfile', f(`${name}.ext`), '-out', f(`${name}.crt`));
  }
  return { ca: f('ca.crt'), serverCert: f('server.crt'), serverKey: f('server.key'), clientCert: f('client.crt'), clientKey: f('client.key') };
}

export async function startEtcd(opts: { clientPort: number; peerPort: number; host?: string; netns?: string; tls?: TestTls }): Promise<EtcdServer> {
  const dir = mkdtempSync(join(tmpdir(), 'tso-etcd-'));
  const host = opts.host ?? '127.0.0.1';
  const client = `${opts.tls ? 'https' : 'http'}://${host}:${opts.clientPort}`;
  // With TLS, etcd asks every client for a certificate signed by the test CA.
  const tlsArgs = opts.tls
    ? ['--cert-file', opts.tls.serverCert, '--key-file', opts.tls.serverKey, '--client-cert-auth', '--trusted-ca-file', opts.tls.ca]
    : [];
  const tlsCtl = opts.tls ? ['--cacert', opts.tls.ca, '--cert', opts.tls.clientCert, '--key', opts.tls.clientKey] : [];
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
    ...tlsArgs,
  ]), { stdio: 'ignore' });
  const deadline = Date.now() + 15_000;
  for (;;) {
    try {
      execFileSync(...inNetns('etcdctl', ['--endpoints', client, ...tlsCtl, 'endpoint', 'health']), { env: { ...process.env, ETCDCTL_API: '3' }, stdio: 'ignore' });
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
