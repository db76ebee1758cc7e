import { removeClusterNetwork, waitForPoolRelease } from '../driver/cluster-admin.js';
import { openStore, parseCommand, report } from './connect.js';

/** How long `network rm` waits for the live hosts to let go of the subnet. */
const RELEASE_WAIT_MS = 30_000;

export const networkHelp = `Usage: ts-overlay network rm NAME [--etcd URLS]

Removes a ts-overlay network from every host, like "docker network rm" on any one of them,
but refuses while any host still has containers on it (naming those hosts) instead of leaving
it for ts-overlay to restore. Returns once every live host has removed its copy and let go of
the subnet (up to ${RELEASE_WAIT_MS / 1000} s), so the subnet can be used again at once; hosts
that are down let go of it when their plugin comes back.
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
      const removed = await removeClusterNetwork(store, name);
      process.stdout.write(`${removed.id}\n`);
      const { live, away } = await waitForPoolRelease(store, removed, RELEASE_WAIT_MS);
      if (live.length > 0) {
        process.stderr.write(`ts-overlay network rm: removed from the cluster, but ${live.join(', ')} still hold subnet ${removed.subnet} after ${RELEASE_WAIT_MS / 1000} s; see their plugin logs\n`);
        return 1;
      }
      if (away.length > 0) process.stderr.write(`ts-overlay network rm: subnet ${removed.subnet} stays taken until ${away.join(', ')} (down now) come back\n`);
      return 0;
    } finally {
      close();
    }
  });
}
