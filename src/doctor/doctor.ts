import type { Config } from '../config/config.js';
import { defaultRouteAddress } from '../dataplane/host-info.js';
import type { Runner } from '../dataplane/runner.js';
import { errorMessage } from '../lib/errors.js';
import type { ClusterStore } from '../store/cluster-store.js';
import type { NetworkRecord, NodeRecord } from '../store/records.js';
import { type CheckResult, fail, runCheck } from './check.js';
import { checkClockSkew } from './clock-skew.js';
import { checkEtcdMembers } from './etcd-members.js';
import type { EtcdTls } from './etcd-http.js';
import { etcdConnection } from '../store/etcd-connection.js';
import { checkKernelVxlan } from './kernel-vxlan.js';
import { checkNodeRecord } from './node-record.js';
import { checkPeerRoutes } from './peer-routes.js';
import { checkPluginSocket } from './plugin-socket.js';
import { checkUnderlayMtu } from './underlay-mtu.js';
import { checkVxlanPort } from './vxlan-port.js';

export interface DoctorReport {
  readonly node: string;
  readonly vtep: string | undefined;
  readonly ok: boolean;
  readonly checks: readonly CheckResult[];
}

/**
 * Everything that has to hold on this host for the overlay to work, each checked on its own
 * so that one broken thing does not hide another: kernel, underlay, peers, port, etcd, clock,
 * registration, plugin socket. Read-only, except for one throwaway VXLAN device.
 */
export async function runDoctor(config: Config, run: Runner, store: ClusterStore): Promise<DoctorReport> {
  let vtep = config.advertiseAddr;
  let vtepError = '';
  if (!vtep) vtep = await defaultRouteAddress(run).catch((err: unknown) => ((vtepError = errorMessage(err)), undefined));
  const cluster = await readCluster(store);
  const etcdDown = (name: string) => fail(name, `not checked: could not read etcd (${cluster instanceof Error ? cluster.message : ''})`, 'see the etcd members check');
  const noVtep = (name: string) => fail(name, `not checked: ${vtepError}`, 'give --advertise-addr');

  // First and alone: the throwaway device it makes must not show up in the other checks.
  const kernel = await runCheck('kernel VXLAN', () => checkKernelVxlan(run, config.vxlanPort));
  const checks = await Promise.all([
    runCheck('underlay MTU', async () =>
      vtep ? checkUnderlayMtu(run, vtep, cluster instanceof Error ? undefined : cluster.networks) : noVtep('underlay MTU')),
    runCheck('routes to peers', async () =>
      cluster instanceof Error ? etcdDown('routes to peers') : checkPeerRoutes(run, { name: config.nodeName, vtep: vtep ?? '' }, cluster.nodes)),
    runCheck('VXLAN port', () =>
      checkVxlanPort(run, config.vxlanPort, new Map(cluster instanceof Error ? [] : cluster.networks.map((n) => [n.vni, n.name])))),
    runCheck('etcd members', () => checkEtcdMembers(config.etcd, etcdTls(config))),
    runCheck('clock skew', () => checkClockSkew(config.etcd, etcdTls(config))),
    runCheck('node record', async () =>
      cluster instanceof Error ? fail('node record', `could not read etcd: ${cluster.message}`, 'see the etcd members check') : checkNodeRecord(cluster.nodes, config.nodeName, vtep)),
    runCheck('plugin socket', () => checkPluginSocket(config.socket)),
  ]);
  return { node: config.nodeName, vtep, ok: kernel.ok && checks.every((c) => c.ok), checks: [kernel, ...checks] };
}

async function readCluster(store: ClusterStore): Promise<{ nodes: NodeRecord[]; networks: Array<NetworkRecord & { name: string }> } | Error> {
  try {
    const [nodes, { networks }] = await Promise.all([store.listNodes(), store.listNetworks()]);
    return { nodes, networks: networks.map((n) => ({ ...n, name: n.name ?? n.id.slice(0, 12) })) };
  } catch (err) {
    return err instanceof Error ? err : new Error(String(err));
  }
}

/** The plugin's own TLS material for etcd, if it uses TLS (the doctor connects the same way). */
function etcdTls(config: Config): EtcdTls | undefined {
  return etcdConnection(config, 3000).tls;
}
