import { removeClusterNetwork } from '../driver/cluster-admin.js';
import { openStore, parseCommand, report } from './connect.js';

export const networkHelp = `Usage: ts-overlay network rm NAME [--etcd URLS]

Removes a ts-overlay network from every host, like "docker network rm" on any one of them,
but refuses while any host still has containers on it (naming those hosts) instead of leaving
it for ts-overlay to restore.
`;

export function network(argv: string[]): Promise<number> {
  return report('network rm', async () => {
    const { config, positionals } = parseCommand(argv, []);
    const [verb, name, ...extra] = positionals;
    if (verb !== 'rm' || !name || extra.length > 0) {
      process.stderr.write(networkHelp);
      return 2;
    }
    const { store, close } = openStore(config);
    try {
      const id = await removeClusterNetwork(store, name);
      process.stdout.write(`${id}\n`);
      return 0;
    } finally {
      close();
    }
  });
}
