import type { AddressBook } from '../ipam/address-book.js';
import { errorMessage } from '../lib/errors.js';
import type { Logger } from '../lib/logger.js';
import { sleep } from '../lib/retry.js';
import type { ClusterStore } from '../store/cluster-store.js';
import { parseAddressKey, parsePoolKey } from '../store/keys.js';
import type { PoolRecord } from '../store/records.js';

/**
 * Keeps the address book equal to etcd's pools/ and addresses/: a listing of each, then a
 * watch from its revision.
 */
export async function feedAddressBook(store: ClusterStore, book: AddressBook, log: Logger): Promise<{ close(): Promise<void> }> {
  const pools = await follow('pool', log, async (resync) => {
    const { entries, revision } = await store.listPoolEntries();
    book.loadPools(entries.map((e) => e.value));
    return store.watchPools(revision, {
      onPut: (_key, value) => book.setPool(value as PoolRecord),
      onDelete: (key) => {
        const subnet = parsePoolKey(key);
        if (subnet) book.dropPool(subnet);
      },
      onResync: resync,
    });
  });
  const addresses = await follow('address', log, async (resync) => {
    const { entries, revision } = await store.listAllAddresses();
    book.load(entries.map((e) => parseAddressKey(e.key)).filter((a) => a !== undefined));
    return store.watchAddresses(revision, {
      onPut: (key) => {
        const a = parseAddressKey(key);
        if (a) book.add(a.subnet, a.ip);
      },
      onDelete: (key) => {
        const a = parseAddressKey(key);
        if (a) book.remove(a.subnet, a.ip);
      },
      onResync: resync,
    });
  });
  return { close: async () => void (await Promise.all([pools.close(), addresses.close()])) };
}

type Watch = { close(): Promise<void> };

/** Runs `open` (a listing and a watch), and again whenever the watch loses its place. */
async function follow(what: string, log: Logger, open: (resync: () => void) => Promise<Watch>): Promise<Watch> {
  let watch: Watch | undefined;
  let closed = false;
  const resync = async () => {
    await watch?.close().catch(() => undefined);
    while (!closed) {
      try {
        watch = await open(() => void resync());
        // Closed while it opened: nobody else will close this one.
        if (closed) await watch.close().catch(() => undefined);
        return;
      } catch (err) {
        log.warn({ err: errorMessage(err) }, `${what} watch resync failed; retrying`);
        await sleep(1000);
      }
    }
  };
  watch = await open(() => void resync());
  return {
    close: async () => {
      closed = true;
      await watch?.close();
    },
  };
}
