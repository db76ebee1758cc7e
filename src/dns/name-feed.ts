import { errorMessage } from '../lib/errors.js';
import type { Logger } from '../lib/logger.js';
import { sleep } from '../lib/retry.js';
import type { ClusterStore } from '../store/cluster-store.js';
import { lastSegment } from '../store/keys.js';
import type { NameRecord, NetworkRecord } from '../store/records.js';
import type { NameTable } from './name-table.js';

/**
 * Keeps the NameTable equal to etcd's networks/ and names/: a listing, then watches from its
 * revision, so a name is served here moments after any host writes it and gone moments after
 * it is deleted. When etcd is unreachable the table keeps what it has (cached names go on
 * resolving) and a fresh listing replaces it once etcd is back.
 */
export async function feedNameTable(store: ClusterStore, table: NameTable, log: Logger): Promise<{ close(): Promise<void> }> {
  let watches: Array<{ close(): Promise<void> }> = [];
  let closed = false;
  let resyncing: Promise<void> | undefined;

  const follow = async (): Promise<void> => {
    const [{ networks, revision: netRevision }, { entries, revision: nameRevision }] = await Promise.all([store.listNetworks(), store.listNames()]);
    table.load(networks.map((n) => ({ id: n.id, subnet: n.subnet })), entries.map((e) => e.value));
    log.debug({ networks: networks.length, names: entries.length }, 'name table loaded');
    const onResync = () => void resync();
    watches = [
      store.watchNetworks(netRevision, {
        onPut: (_key, value) => {
          const n = value as NetworkRecord;
          if (typeof n?.id === 'string' && typeof n.subnet === 'string') table.setNetwork(n.id, n.subnet);
        },
        onDelete: (key) => table.removeNetwork(lastSegment(key)),
        onResync,
      }),
      store.watchNames(nameRevision, {
        onPut: (_key, value) => {
          const r = value as NameRecord;
          if (typeof r?.network === 'string' && typeof r.endpoint === 'string') table.put(r);
        },
        onDelete: (key) => {
          const [network, endpoint] = key.split('/').slice(-2);
          if (network && endpoint) table.remove(network, endpoint);
        },
        onResync,
      }),
    ];
  };

  const resync = () => {
    resyncing ??= (async () => {
      await Promise.all(watches.map((w) => w.close().catch(() => undefined)));
      watches = [];
      while (!closed) {
        try {
          await follow();
          return;
        } catch (err) {
          log.warn({ err: errorMessage(err) }, 'name watch resync failed; serving cached names, retrying');
          await sleep(1000);
        }
      }
    })().finally(() => (resyncing = undefined));
  };

  await follow();
  return {
    close: async () => {
      closed = true;
      await resyncing;
      await Promise.all(watches.map((w) => w.close()));
    },
  };
}
