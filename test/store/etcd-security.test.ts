import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TEST_PORT_BASE } from '../helpers/instance.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/config.js';
import { checkClockSkew } from '../../src/doctor/clock-skew.js';
import { checkEtcdMembers } from '../../src/doctor/etcd-members.js';
import { parseCidr } from '../../src/ipam/cidr.js';
import { IpamService } from '../../src/ipam/ipam-service.js';
import { silentLogger } from '../../src/lib/logger.js';
import { ClusterStore } from '../../src/store/cluster-store.js';
import { etcdConnection } from '../../src/store/etcd-connection.js';
import { EtcdKv } from '../../src/store/etcd-kv.js';
import { type EtcdServer, makeTestTls, startEtcd, type TestTls } from '../helpers/etcd-server.js';

/**
 * The control plane's own security against real etcds: TLS with client certificates, user and
 * password auth, and key prefixes that let several clusters share one etcd. Connections are
 * made from config exactly as the plugin makes them (loadConfig -> etcdConnection -> EtcdKv).
 */
let dir: string;
let tls: TestTls;
let tlsEtcd: EtcdServer;
let authEtcd: EtcdServer;
const clients: EtcdKv[] = [];

function storeFrom(argv: string[], env: NodeJS.ProcessEnv = {}) {
  const kv = new EtcdKv(etcdConnection(loadConfig(argv, env), 3000), silentLogger);
  clients.push(kv);
  return new ClusterStore(kv, silentLogger);
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'tso-tls-'));
  tls = makeTestTls(dir);
  tlsEtcd = await startEtcd({ clientPort: TEST_PORT_BASE + 6, peerPort: TEST_PORT_BASE + 7, tls });
  authEtcd = await startEtcd({ clientPort: TEST_PORT_BASE + 8, peerPort: TEST_PORT_BASE + 9 });
  const ctl = (...args: string[]) => execFileSync('etcdctl', ['--endpoints', authEtcd.endpoint, ...args], { env: { ...process.env, ETCDCTL_API: '3' }, stdio: 'ignore' });
  ctl('user', 'add', 'root:rootpw');
  ctl('user', 'add', 'plugin:s3cret');
  ctl('role', 'add', 'ts-overlay');
  ctl('role', 'grant-permission', 'ts-overlay', '--prefix=true', 'readwrite', '/ts-overlay/');
  ctl('user', 'grant-role', 'plugin', 'ts-overlay');
  ctl('auth', 'enable');
}, 60_000);

afterAll(async () => {
  clients.forEach((c) => c.close());
  await tlsEtcd?.stop();
  await authEtcd?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('etcd over TLS with client certificates', () => {
  it('works with the CA and a client certificate', async () => {
    const store = storeFrom(['--etcd', tlsEtcd.endpoint, '--etcd-cacert', tls.ca, '--etcd-cert', tls.clientCert, '--etcd-key', tls.clientKey]);
    const ipam = new IpamService(store, { node: 'h1', defaultPool: parseCidr('10.0.0.0/8')!, poolSize: 24 }, silentLogger);
    expect((await ipam.requestPool({})).subnet).toBe('10.0.0.0/24');
  });

  it('is refused by etcd without a client certificate, with an error that names etcd', async () => {
    const store = storeFrom(['--etcd', tlsEtcd.endpoint, '--etcd-cacert', tls.ca]);
    await expect(store.listNetworks()).rejects.toThrow(/^etcd read failed/);
  });

  it('refuses TLS flags with http:// endpoints, and a certificate without its key', () => {
    expect(() => loadConfig(['--etcd', 'http://127.0.0.1:2379', '--etcd-cacert', tls.ca], {})).toThrow(/need https/);
    expect(() => loadConfig(['--etcd', tlsEtcd.endpoint, '--etcd-cacert', tls.ca, '--etcd-cert', tls.clientCert], {})).toThrow(/go together/);
  });

  it('is reached by ts-overlay doctor the same way, with the same certificates', async () => {
    const config = loadConfig(['--etcd', tlsEtcd.endpoint, '--etcd-cacert', tls.ca, '--etcd-cert', tls.clientCert, '--etcd-key', tls.clientKey], {});
    const material = etcdConnection(config, 3000).tls;
    expect(await checkEtcdMembers(config.etcd, material)).toMatchObject({ ok: true, detail: '1/1 answered (etcd 3.4.23)' });
    expect((await checkClockSkew(config.etcd, material)).ok).toBe(true);
    const withoutClientCert = await checkEtcdMembers(config.etcd, { rootCertificate: material!.rootCertificate });
    expect(withoutClientCert.ok).toBe(false);
  });

  it('names the file it cannot read', () => {
    expect(() => etcdConnection(loadConfig(['--etcd', tlsEtcd.endpoint, '--etcd-cacert', join(dir, 'missing.crt')], {}), 1000)).toThrow(/cannot read the etcd CA certificate .*missing\.crt/);
  });
});

describe('etcd with user and password', () => {
  it('works with the password from a file or from the environment', async () => {
    const file = join(dir, 'password');
    writeFileSync(file, 's3cret\n');
    const fromFile = storeFrom(['--etcd', authEtcd.endpoint, '--etcd-user', 'plugin', '--etcd-password-file', file]);
    expect((await fromFile.listNetworks()).networks).toEqual([]);
    const fromEnv = storeFrom(['--etcd', authEtcd.endpoint, '--etcd-user', 'plugin'], { TS_OVERLAY_ETCD_PASSWORD: 's3cret' });
    expect((await fromEnv.listNetworks()).networks).toEqual([]);
  });

  it('fails clearly with a wrong password or none', async () => {
    await expect(storeFrom(['--etcd', authEtcd.endpoint, '--etcd-user', 'plugin'], { TS_OVERLAY_ETCD_PASSWORD: 'wrong' }).listNetworks()).rejects.toThrow(/^etcd read failed/);
    await expect(storeFrom(['--etcd', authEtcd.endpoint]).listNetworks()).rejects.toThrow(/^etcd read failed/);
    expect(() => loadConfig(['--etcd-user', 'plugin'], {})).toThrow(/needs --etcd-password-file or TS_OVERLAY_ETCD_PASSWORD/);
  });

  it('keeps a user inside the prefix its role allows', async () => {
    const outside = storeFrom(['--etcd', authEtcd.endpoint, '--etcd-user', 'plugin', '--etcd-prefix', '/other-cluster/'], { TS_OVERLAY_ETCD_PASSWORD: 's3cret' });
    await expect(outside.listNetworks()).rejects.toThrow(/^etcd read failed.*permission denied/);
  });
});

describe('--etcd-prefix', () => {
  it('lets two clusters share one etcd without seeing each other', async () => {
    const a = storeFrom(['--etcd', tlsEtcd.endpoint, '--etcd-cacert', tls.ca, '--etcd-cert', tls.clientCert, '--etcd-key', tls.clientKey, '--etcd-prefix', '/cluster-a/']);
    const b = storeFrom(['--etcd', tlsEtcd.endpoint, '--etcd-cacert', tls.ca, '--etcd-cert', tls.clientCert, '--etcd-key', tls.clientKey, '--etcd-prefix', '/cluster-b/']);
    const ipam = (store: ClusterStore) => new IpamService(store, { node: 'h1', defaultPool: parseCidr('10.0.0.0/8')!, poolSize: 24 }, silentLogger);
    expect((await ipam(a).requestPool({})).subnet).toBe('10.0.0.0/24');
    expect((await ipam(b).requestPool({})).subnet).toBe('10.0.0.0/24'); // its own address space
    expect((await a.listPools()).pools).toHaveLength(1);
    expect(() => loadConfig(['--etcd-prefix', 'no-slashes'], {})).toThrow(/must start and end with \//);
  });
});
