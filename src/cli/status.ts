import { clusterStatus, type ClusterStatus } from '../driver/cluster-status.js';
import { localDataplane, openStore, parseCommand, report } from './connect.js';

export const statusHelp = `Usage: ts-overlay status [--json] [--etcd URLS] [--node-name NAME]

Shows the cluster as etcd and this host's kernel see it: nodes (alive or not, VTEP, version),
networks (name, subnet, VNI, encrypted or not, hosts), the encryption key ids (never the keys), endpoints per host, and any drift between this host's
kernel and etcd. Takes the serve flags and TS_OVERLAY_* variables to find etcd.
`;

export function status(argv: string[]): Promise<number> {
  return report('status', async () => {
    const { config, on } = parseCommand(argv, ['--json']);
    const { store, close } = openStore(config);
    try {
      const s = await clusterStatus(store, localDataplane(config), config.nodeName);
      process.stdout.write(on.has('--json') ? `${JSON.stringify(s, null, 2)}\n` : formatStatus(s));
      return 0;
    } finally {
      close();
    }
  });
}

export function formatStatus(s: ClusterStatus): string {
  const table = (rows: string[][]) => {
    const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
    return rows.map((r) => r.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd()).join('\n');
  };
  const out = [
    'NODES',
    table([['NAME', 'STATE', 'VTEP', 'VERSION', 'STARTED'], ...s.nodes.map((n) => [n.name, n.alive ? 'alive' : 'dead', n.vtep ?? '-', n.version ?? '-', n.startedAt ?? '-'])]),
    '',
    'NETWORKS',
    table([['NAME', 'SUBNET', 'VNI', 'ENCRYPTED', 'HOSTS', 'ENDPOINTS'], ...s.networks.map((n) => [n.name, n.subnet, String(n.vni), n.encrypted ? 'yes' : 'no', n.hosts.join(',') || '-', String(n.endpoints)])]),
    ...(s.encryptionKeys ? [`ENCRYPTION KEYS: ${s.encryptionKeys.ids.map((id) => `#${id}`).join(', ')}; primary #${s.encryptionKeys.primary} since ${s.encryptionKeys.primarySince}`] : []),
    '',
    'ENDPOINTS',
    table([['NODE', 'NETWORK', 'IP', 'MAC', 'ID'], ...s.endpoints.map((e) => [e.node, e.network, e.ip, e.mac, e.id.slice(0, 12)])]),
    '',
    s.drift.length === 0 ? `DRIFT on ${s.node}: none` : `DRIFT on ${s.node}:\n${s.drift.map((d) => `  ${d}`).join('\n')}`,
  ];
  return `${out.join('\n')}\n`;
}
