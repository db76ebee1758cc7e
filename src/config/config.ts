import { hostname } from 'node:os';
import { basename } from 'node:path';
import { isIP } from 'node:net';
import { parseArgs } from 'node:util';
import { parseCidr, parseIPv4, type Cidr } from '../ipam/cidr.js';

/** Everything `ts-overlay serve` needs, validated and frozen. */
export interface Config {
  readonly socket: string;
  readonly etcd: readonly string[];
  readonly etcdPrefix: string;
  /** Files; read when connecting. */
  readonly etcdTls: { readonly ca: string; readonly cert?: string; readonly key?: string } | undefined;
  readonly etcdAuth: { readonly user: string; readonly passwordFile?: string; readonly password?: string } | undefined;
  /** Undefined means: find it from the default route when starting. */
  readonly advertiseAddr: string | undefined;
  readonly nodeName: string;
  readonly defaultPool: Cidr;
  readonly poolSize: number;
  readonly vniRange: { readonly min: number; readonly max: number };
  readonly vxlanPort: number;
  readonly dockerHost: string;
  /** The name engines know this driver by (what `docker network ls` shows under DRIVER). */
  readonly driverName: string;
  readonly logLevel: string;
  /** Seconds a node's lease lives without renewal: how long a dead host lingers. */
  readonly nodeTtl: number;
  /** Seconds between full reconciles (drift is also caught at once by netlink events). */
  readonly reconcileInterval: number;
  /** Seconds a just-made endpoint, address, pool, network or copy is left alone by reconciles. */
  readonly reconcileGrace: number;
  /** Where /metrics and /healthz are served over HTTP; undefined: not at all. */
  readonly metricsAddr: { readonly host: string; readonly port: number } | undefined;
  /** Accept VXLAN only from live nodes' VTEPs (iptables chain TS-OVERLAY-VXLAN); false removes it. */
  readonly vxlanGuard: boolean;
  /** Spare endpoint interfaces per network at most (0: none); see dataplane/spare-ports.ts. */
  readonly sparePorts: number;
  /** Bounds on API calls that touch state (see CallLimits); 0: none. */
  readonly maxCallsInFlight: number;
  readonly maxCallRate: number;
  /** UDP port of encrypted networks' sealed datagrams on the underlay; the next port is their loopback VXLAN port. */
  readonly encryptionPort: number;
  /** Seconds between encryption key rotations. */
  readonly keyRotationInterval: number;
  /** The DNS responder for container names; undefined: off (its device, routes and rules removed). */
  readonly dns: DnsConfig | undefined;
}

export interface DnsConfig {
  /** Where the responder listens on every host (a /32 on the device tso-dns0). */
  readonly addr: string;
  /** Servers for every other name; undefined: the host's /etc/resolv.conf, read at start. */
  readonly upstream: readonly Upstream[] | undefined;
}

export interface Upstream {
  readonly host: string;
  readonly port: number;
}

/** Flag name -> help text and default. Every flag can also come from TS_OVERLAY_<FLAG>. */
export const SERVE_FLAGS = {
  socket: { help: 'Unix socket the engine discovers the plugin by', default: '/run/docker/plugins/ts-overlay.sock' },
  etcd: { help: 'comma-separated etcd endpoints (https:// with the TLS flags)', default: 'http://127.0.0.1:2379' },
  'etcd-prefix': { help: 'key prefix in etcd, so that several clusters can share one etcd', default: '/ts-overlay/' },
  'etcd-cacert': { help: "CA certificate (PEM) to verify etcd's server certificate", default: '' },
  'etcd-cert': { help: 'client certificate (PEM) for etcd with client-cert auth', default: '' },
  'etcd-key': { help: 'key (PEM) of the client certificate', default: '' },
  'etcd-user': { help: 'etcd user (password from --etcd-password-file or TS_OVERLAY_ETCD_PASSWORD)', default: '' },
  'etcd-password-file': { help: "file holding the etcd user's password (kept off the command line)", default: '' },
  'advertise-addr': { help: "this host's underlay IPv4, used as VTEP (default: address of the default route's interface)", default: '' },
  'node-name': { help: 'name of this node in the cluster (default: hostname)', default: '' },
  'default-pool': { help: 'pool that network subnets are carved from', default: '10.0.0.0/8' },
  'pool-size': { help: 'prefix length of a subnet carved from the default pool', default: '24' },
  'vni-range': { help: 'VXLAN network identifiers to allocate from (MIN-MAX)', default: '4096-16777215' },
  'vxlan-port': { help: 'UDP port of VXLAN traffic on the underlay', default: '4789' },
  'docker-host': { help: "the local engine's API", default: 'unix:///var/run/docker.sock' },
  'driver-name': { help: "the driver's name in the engine (default: the socket's name without .sock; a managed plugin's is NAME:TAG)", default: '' },
  'log-level': { help: 'pino level: fatal, error, warn, info, debug, trace', default: 'info' },
  'node-ttl': { help: "seconds before a silent node counts as dead: its peers are dropped and its endpoints released", default: '15' },
  'reconcile-interval': { help: 'seconds between full reconciles of kernel, engine and etcd', default: '30' },
  'reconcile-grace': { help: 'seconds a reconcile leaves a just-made endpoint, address, pool, network or copy alone (a request may be half-way through making it)', default: '10' },
  'metrics-addr': { help: 'HOST:PORT serving Prometheus /metrics and /healthz, e.g. 127.0.0.1:9477 (default: off)', default: '' },
  'max-calls-in-flight': { help: 'API calls that touch state worked on at once; more are refused with a "busy" error (0: no bound)', default: '512' },
  'max-call-rate': { help: 'API calls that touch state started per second, sustained, with bursts of one second\'s worth; more are refused with a "busy" error (0: no bound)', default: '5000' },
  'encryption-port': { help: 'UDP port of encrypted networks on the underlay (sealed VXLAN); the port after it is used on loopback only', default: '4790' },
  'encryption-key-rotation': { help: 'seconds between rotations of the encryption key (-o encrypted networks)', default: '43200' },
  dns: { help: 'true: answer container names across hosts (DNS responder on --dns-addr, engines started with --dns <that address>); false: off (removes its device, routes and firewall chain at start)', default: 'true' },
  'dns-addr': { help: 'IPv4 address the DNS responder listens on, on every host (UDP and TCP 53); give the engines --dns with it', default: '169.254.53.53' },
  'dns-upstream': { help: "comma-separated servers (IP or IP:PORT) for names that are not ts-overlay's (default: the nameservers of the host's /etc/resolv.conf)", default: '' },
  'spare-ports': { help: 'endpoint interfaces made ahead of Joins while containers start quickly on a network (one for every 8 Joins in the last second, at most this many per network, deleted after 2 s without a Join), so that Join hands one out instead of waiting for `ip`; 0: none', default: '32' },
  'vxlan-guard': { help: 'true: accept VXLAN (UDP --vxlan-port) only from live nodes, by iptables chain TS-OVERLAY-VXLAN; false: leave that to your own firewall (removes the chain at start)', default: 'true' },
} as const;

export type ServeFlag = keyof typeof SERVE_FLAGS;

export function envName(flag: string): string {
  return `TS_OVERLAY_${flag.toUpperCase().replace(/-/g, '_')}`;
}

export class ConfigError extends Error {}

/** Flags win over the environment, the environment over defaults. */
export function loadConfig(argv: readonly string[], env: NodeJS.ProcessEnv): Config {
  const options = Object.fromEntries(
    Object.keys(SERVE_FLAGS).map((flag) => [flag, { type: 'string' as const }]),
  );
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({ args: [...argv], options, strict: true, allowPositionals: false }));
  } catch (err) {
    throw new ConfigError((err as Error).message);
  }
  const raw = (flag: ServeFlag): string => {
    const fromFlag = values[flag];
    if (typeof fromFlag === 'string') return fromFlag;
    return env[envName(flag)] ?? SERVE_FLAGS[flag].default;
  };

  const etcd = raw('etcd').split(',').map((s) => s.trim()).filter(Boolean);
  if (etcd.length === 0) throw new ConfigError('--etcd: give at least one endpoint');
  for (const endpoint of etcd) {
    if (!/^https?:\/\/[^/\s]+$/.test(endpoint)) throw new ConfigError(`--etcd: "${endpoint}" is not an http(s)://host:port endpoint`);
  }

  const etcdPrefix = raw('etcd-prefix');
  if (!/^\/[A-Za-z0-9._/-]*\/$/.test(etcdPrefix)) throw new ConfigError(`--etcd-prefix: "${etcdPrefix}" must start and end with / (such as /ts-overlay/)`);
  const [ca, cert, key] = [raw('etcd-cacert'), raw('etcd-cert'), raw('etcd-key')];
  if (Boolean(cert) !== Boolean(key)) throw new ConfigError('--etcd-cert and --etcd-key go together');
  if ((cert || ca) && etcd.some((e) => !e.startsWith('https://'))) throw new ConfigError('--etcd-cacert/--etcd-cert need https:// etcd endpoints');
  if (cert && !ca) throw new ConfigError('--etcd-cert needs --etcd-cacert to verify the server');
  const user = raw('etcd-user');
  const passwordFile = raw('etcd-password-file');
  const password = env.TS_OVERLAY_ETCD_PASSWORD;
  if ((passwordFile || password) && !user) throw new ConfigError('an etcd password needs --etcd-user');
  if (user && !passwordFile && password === undefined) throw new ConfigError('--etcd-user needs --etcd-password-file or TS_OVERLAY_ETCD_PASSWORD');

  const advertise = raw('advertise-addr');
  if (advertise && !parseIPv4(advertise)) throw new ConfigError(`--advertise-addr: "${advertise}" is not an IPv4 address`);

  const defaultPool = parseCidr(raw('default-pool'));
  if (!defaultPool) throw new ConfigError(`--default-pool: "${raw('default-pool')}" is not an IPv4 CIDR such as 10.0.0.0/8`);
  const poolSize = integer('pool-size', raw('pool-size'), defaultPool.prefix, 30);

  const vniMatch = /^(\d+)-(\d+)$/.exec(raw('vni-range'));
  if (!vniMatch) throw new ConfigError(`--vni-range: "${raw('vni-range')}" is not MIN-MAX`);
  const vniMin = integer('vni-range', vniMatch[1]!, 1, 16777215);
  const vniMax = integer('vni-range', vniMatch[2]!, vniMin, 16777215);

  const dockerHost = raw('docker-host');
  if (!dockerHost.startsWith('unix://')) throw new ConfigError('--docker-host: only unix:// sockets are supported');

  const logLevel = raw('log-level');
  if (!['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].includes(logLevel)) {
    throw new ConfigError(`--log-level: "${logLevel}" is not one of fatal, error, warn, info, debug, trace, silent`);
  }

  const vxlanPort = integer('vxlan-port', raw('vxlan-port'), 1, 65535);
  const encryptionPort = integer('encryption-port', raw('encryption-port'), 1, 65534);
  if (encryptionPort === vxlanPort || encryptionPort + 1 === vxlanPort) {
    throw new ConfigError(`--encryption-port: ${encryptionPort} and ${encryptionPort + 1} must both differ from --vxlan-port ${vxlanPort}`);
  }

  return Object.freeze({
    socket: raw('socket'),
    etcd: Object.freeze(etcd),
    etcdPrefix,
    etcdTls: ca ? Object.freeze({ ca, ...(cert ? { cert, key } : {}) }) : undefined,
    etcdAuth: user ? Object.freeze({ user, ...(passwordFile ? { passwordFile } : { password: password! }) }) : undefined,
    advertiseAddr: advertise || undefined,
    nodeName: raw('node-name') || hostname(),
    defaultPool,
    poolSize,
    vniRange: Object.freeze({ min: vniMin, max: vniMax }),
    vxlanPort,
    dockerHost,
    driverName: raw('driver-name') || basename(raw('socket'), '.sock'),
    logLevel,
    nodeTtl: integer('node-ttl', raw('node-ttl'), 2, 3600),
    reconcileInterval: integer('reconcile-interval', raw('reconcile-interval'), 1, 86400),
    reconcileGrace: integer('reconcile-grace', raw('reconcile-grace'), 1, 3600),
    metricsAddr: raw('metrics-addr') ? hostPort('metrics-addr', raw('metrics-addr')) : undefined,
    vxlanGuard: boolean('vxlan-guard', raw('vxlan-guard')),
    sparePorts: integer('spare-ports', raw('spare-ports'), 0, 1024),
    maxCallsInFlight: integer('max-calls-in-flight', raw('max-calls-in-flight'), 0, 1_000_000),
    maxCallRate: integer('max-call-rate', raw('max-call-rate'), 0, 1_000_000),
    encryptionPort,
    keyRotationInterval: integer('encryption-key-rotation', raw('encryption-key-rotation'), 10, 31_536_000),
    dns: boolean('dns', raw('dns')) ? dnsConfig(raw('dns-addr'), raw('dns-upstream')) : undefined,
  });
}

function dnsConfig(addr: string, upstream: string): DnsConfig {
  if (!parseIPv4(addr)) throw new ConfigError(`--dns-addr: "${addr}" is not an IPv4 address`);
  if (addr.startsWith('127.') || addr === '0.0.0.0') throw new ConfigError(`--dns-addr: ${addr} cannot be reached from containers; use a link-local address such as 169.254.53.53`);
  const servers = upstream.split(',').map((s) => s.trim()).filter(Boolean).map((s) => {
    const server = parseUpstream(s);
    if (!server) throw new ConfigError(`--dns-upstream: "${s}" is not an IP address or IP:PORT`);
    if (server.host === addr) throw new ConfigError(`--dns-upstream: ${s} is the responder itself (--dns-addr)`);
    return server;
  });
  return Object.freeze({ addr, upstream: servers.length ? Object.freeze(servers) : undefined });
}

/** "192.0.2.53", "192.0.2.53:5353", "2001:db8::53", "[2001:db8::53]:5353". */
export function parseUpstream(text: string): Upstream | undefined {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([0-9.]+))(?::(\d{1,5}))?$/.exec(text) ?? /^()([0-9a-fA-F:]+)()$/.exec(text);
  if (!m) return undefined;
  const host = m[1] || m[2]!;
  const port = m[3] ? Number(m[3]) : 53;
  if (port < 1 || port > 65535) return undefined;
  if (!isIP(host)) return undefined;
  return Object.freeze({ host, port });
}

/** "127.0.0.1:9477", "localhost:9477", "[::1]:9477", ":9477" (every address). */
function hostPort(flag: string, text: string): { host: string; port: number } {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]\s]*)):(\d+)$/.exec(text);
  if (!m) throw new ConfigError(`--${flag}: "${text}" is not HOST:PORT (for example 127.0.0.1:9477)`);
  return Object.freeze({ host: m[1] ?? (m[2] || '0.0.0.0'), port: integer(flag, m[3]!, 1, 65535) });
}

function boolean(flag: string, text: string): boolean {
  if (text === 'true' || text === 'false') return text === 'true';
  throw new ConfigError(`--${flag}: "${text}" must be true or false`);
}

function integer(flag: string, text: string, min: number, max: number): number {
  const n = Number(text);
  if (!/^\d+$/.test(text) || n < min || n > max) {
    throw new ConfigError(`--${flag}: "${text}" must be an integer from ${min} to ${max}`);
  }
  return n;
}
