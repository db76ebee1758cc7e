import type { CryptoTunnel } from '../dataplane/crypto-tunnel.js';
import type { TunnelRules } from '../dataplane/tunnel-rules.js';
import { errorMessage } from '../lib/errors.js';
import type { Logger } from '../lib/logger.js';
import type { ClusterStore, Entry } from '../store/cluster-store.js';
import type { KeySetRecord } from '../store/records.js';
import { firstKeySet, isKeySet, nextRotationStep, type RotationTiming } from './key-schedule.js';
import { PassRunner } from '../lib/pass-runner.js';
import { PendingRetry } from '../lib/retry.js';

export interface EncryptionNeeds {
  /** Does this host hold an encrypted network? Without one, nothing of the tunnel exists here. */
  encryptedHere(): boolean;
  /** VTEPs of the live nodes (this one may be among them). */
  peers(): string[];
}

/**
 * Keeps this host's encrypted tunnel in line with the cluster: the key set from etcd (created
 * by the first host that needs it, in a transaction), the live nodes as peers, the iptables
 * rules for the peers' relay ports. Also takes part in rotation: every host checks on a timer
 * whether a step is due (key-schedule.ts) and tries it in a transaction; one host wins each
 * step, the others see it through the watch. Passes run one at a time; a trigger during a pass
 * runs one more after it.
 */
export class EncryptionKeeper {
  private keySet: Entry<KeySetRecord> | undefined;
  private watch: { close(): Promise<void> } | undefined;
  private timer: NodeJS.Timeout | undefined;
  private readonly passes = new PassRunner(() => this.pass());
  private readonly retry = new PendingRetry(2000, () => this.schedule());
  private lastError: string | undefined;
  /**
   * What the last pass left: the tunnel in line ('active'); tunnel and rules removed by this
   * process ('cleared': until an encrypted network comes, passes, periodic and on every
   * network or node change, then cost nothing instead of four iptables runs each); or not
   * known ('unknown': at start, a previous life may have left rules; or a pass failed part-way).
   */
  private state: 'unknown' | 'active' | 'cleared' = 'unknown';

  constructor(
    private readonly store: ClusterStore,
    private readonly tunnel: CryptoTunnel,
    private readonly rules: TunnelRules,
    private readonly needs: EncryptionNeeds,
    private readonly timing: RotationTiming,
    private readonly log: Logger,
  ) {}

  /** Reads the key set, follows it, and starts the rotation timer. */
  async start(): Promise<void> {
    await this.follow();
    // Often enough that each step happens within a fraction of the grace after it is due.
    this.timer = setInterval(() => void this.rotate(), Math.max(500, Math.min(this.timing.graceMs / 4, 30_000)));
    this.timer.unref();
  }

  async stop(): Promise<void> {
    const passesDone = this.passes.stop();
    clearInterval(this.timer);
    this.retry.cancel();
    await this.watch?.close();
    await passesDone;
    // The rules stay (fail closed); the tunnel process ends with us.
    await this.tunnel.stop();
  }

  schedule(): void {
    this.passes.schedule();
  }

  run(): Promise<void> {
    return this.passes.run();
  }

  /** What `ts-overlay status` and tests may see: never the secrets. */
  keyInfo(): { keys: number[]; primary: number; primarySince: string } | undefined {
    const set = this.keySet?.value;
    return set && { keys: set.keys.map((k) => k.id), primary: set.primary, primarySince: set.primarySince };
  }

  private async follow(): Promise<void> {
    const { entry, revision } = await this.store.getKeySet();
    this.keySet = entry && isKeySet(entry.value) ? entry : undefined;
    this.watch = this.store.watchKeySet(revision, {
      onPut: () => void this.reread(),
      onDelete: () => void this.reread(),
      onResync: () => void this.reread(),
    });
  }

  private async reread(): Promise<void> {
    try {
      const { entry } = await this.store.getKeySet();
      this.keySet = entry && isKeySet(entry.value) ? entry : undefined;
    } catch (err) {
      this.log.warn({ err: errorMessage(err) }, 'could not read the encryption keys; keeping the ones we have');
    }
    this.schedule();
  }

  private async pass(): Promise<void> {
    try {
      if (!this.needs.encryptedHere()) {
        if (this.state !== 'cleared') {
          if (this.state === 'active' || this.tunnel.running) this.log.info('no encrypted network on this host: tunnel and its rules removed');
          await this.tunnel.stop();
          await this.rules.remove(); // also a previous life's, at the first pass
          this.state = 'cleared';
        }
      } else {
        if (this.state === 'cleared') this.state = 'unknown'; // rules may be half made if this pass fails
        const set = this.keySet ?? (await this.createKeySet());
        const relays = await this.tunnel.update(
          { keys: set.value.keys.map((k) => ({ id: k.id, secret: k.secret })), primary: set.value.primary },
          this.needs.peers(),
        );
        const changes = await this.rules.apply(relays);
        if (changes > 0 || this.state !== 'active') this.log.info({ peers: [...relays.keys()], changes, keys: set.value.keys.map((k) => k.id), primary: set.value.primary }, 'encrypted tunnel in line');
        this.state = 'active';
      }
      if (this.lastError) this.log.info('encrypted tunnel in line again');
      this.lastError = undefined;
      this.retry.cancel(); // in line: a retry armed by an earlier failure has nothing to do
    } catch (err) {
      const message = errorMessage(err);
      if (message !== this.lastError) this.log.error({ err: message }, 'could not set up the encrypted tunnel; encrypted networks carry no traffic until it works (retrying)');
      this.lastError = message;
      if (!this.passes.isStopped) this.retry.arm();
    }
  }

  /** The first host that needs keys makes them; a host that loses the race takes the winner's. */
  private async createKeySet(): Promise<Entry<KeySetRecord>> {
    if (await this.store.createKeySet(firstKeySet(new Date()))) this.log.info('created the cluster encryption key');
    const { entry } = await this.store.getKeySet();
    if (!entry || !isKeySet(entry.value)) throw new Error('the encryption key set in etcd is missing or malformed');
    this.keySet = entry;
    return entry;
  }

  /** Tries the rotation step that is due, if any; losing the transaction is normal. */
  private async rotate(): Promise<void> {
    const current = this.keySet;
    if (this.passes.isStopped || !current || !this.needs.encryptedHere()) return;
    const due = nextRotationStep(current.value, new Date(), this.timing);
    if (!due) return;
    try {
      if (await this.store.replaceKeySet(due.next, current.modRevision)) {
        this.log.info({ step: due.step, keys: due.next.keys.map((k) => k.id), primary: due.next.primary }, `encryption key rotation: ${due.step}`);
      }
    } catch (err) {
      this.log.warn({ err: errorMessage(err) }, 'encryption key rotation step failed; trying again later');
    }
  }
}
