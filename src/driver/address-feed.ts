import type { AddressBook } from '../ipam/address-book.js';
import { errorMessage } from '../lib/errors.js';
import type { Logger } from '../lib/logger.js';
import { sleep } from '../lib/retry.js';
import type { ClusterStore } from '../store/cluster-store.js';
import { parseAddressKey } from '../store/keys.js';

/** Keeps the address book equal to etcd's addresses/: a listing, then a watch from its revision. */
export async function feedAddressBook(store: ClusterStore, book: AddressBook, log: Logger): Promise<{ close(): Promise<void> }> {
  let watch: { close(): Promise<void> } | undefined;
  let closed = false;
  const follow = async (): Promise<void> => {
    const { entries, revision } = await store.listAllAddresses();
    book.load(entries.map((e) => parseAddressKey(e.key)).filter((a) => a !== undefined));
    watch = store.watchAddresses(revision, {
      onPut: (key) => {
        const a = parseAddressKey(key);
        if (a) book.add(a.subnet, a.ip);
      },
      onDelete: (key) => {
        const a = parseAddressKey(key);
        if (a) book.remove(a.subnet, a.ip);
      },
      onResync: () => void resync(),
    });
  };
  const resync = async () => {
    await watch?.close().catch(() => undefined);
    while (!closed) {
      try {
        await follow();
        return;
      } catch (err) {
        log.warn({ err: errorMessage(err) }, 'address watch resync failed; retrying');
        await sleep(1000);
      }
    }
  };
  await follow();
  return {
    close: async () => {
      closed = true;
      await watch?.close();
    },
  };
}
