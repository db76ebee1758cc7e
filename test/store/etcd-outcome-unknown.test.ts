import { randomUUID } from 'node:crypto';
import { createServer, type Server, type Socket, connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { PluginError } from '../../src/lib/errors.js';
import { silentLogger } from '../../src/lib/logger.js';
import { EtcdKv } from '../../src/store/etcd-kv.js';

const endpoint = inject('etcdEndpoint');
const CALL_TIMEOUT_MS = 400;

/**
 * A TCP proxy in front of the test etcd that can hold etcd's answers back for a while, then let
 * them through in order: a call whose answer is held times out in the client although etcd
 * applied it, as when etcd answers just too late.
 */
class HoldingProxy {
  private server: Server | undefined;
  private holdUntil = 0;
  private readonly sockets = new Set<Socket>();
  port = 0;

  async start(): Promise<void> {
    const target = new URL(endpoint);
    this.server = createServer((client) => {
      const upstream = connect(Number(target.port), target.hostname);
      this.sockets.add(client).add(upstream);
      client.pipe(upstream);
      upstream.on('data', (chunk: Buffer) => {
        const wait = this.holdUntil - Date.now();
        if (wait <= 0) client.write(chunk);
        else {
          // Held; no later chunk comes while paused, so the order stays.
          upstream.pause();
          setTimeout(() => {
            client.write(chunk);
            upstream.resume();
          }, Math.max(0, wait));
        }
      });
      const end = () => {
        client.destroy();
        upstream.destroy();
      };
      client.on('error', end).on('close', end);
      upstream.on('error', end).on('close', end);
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as { port: number }).port;
  }

  /** etcd's answers from now until `ms` from now reach the client only then. */
  hold(ms: number): void {
    this.holdUntil = Date.now() + ms;
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server?.close(() => resolve()) ?? resolve());
  }
}

describe('an etcd write whose first try timed out (real etcd behind a proxy)', () => {
  const proxy = new HoldingProxy();
  let kv: EtcdKv;
  let direct: EtcdKv;
  const prefix = `/test-${randomUUID()}/`;

  beforeAll(async () => {
    await proxy.start();
    kv = new EtcdKv({ endpoints: [`http://127.0.0.1:${proxy.port}`], prefix, callTimeoutMs: CALL_TIMEOUT_MS }, silentLogger);
    direct = new EtcdKv({ endpoints: [endpoint], prefix, callTimeoutMs: 5000 }, silentLogger);
    await kv.get('warm-up'); // the connection is made before any answer is held
  });
  afterAll(async () => {
    kv.close();
    direct.close();
    await proxy.stop();
  });

  it('is reported as of unknown outcome, not as lost, when its retry meets its own first write', async () => {
    // etcd applies the first try, but its answer comes after the call's deadline; the retry
    // (answered in time) then finds the key it compared as absent already written.
    proxy.hold(CALL_TIMEOUT_MS + 150);
    const outcome = kv.txnRevision({ compare: [{ key: 'claimed', modRevision: 0 }], put: [['claimed', { by: 'h1' }]] });
    const err = await outcome.then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(PluginError);
    expect((err as PluginError).kind).toBe('unavailable');
    expect((err as PluginError).message).toMatch(/outcome unknown/);
    // The first try was indeed applied: the write is there, once.
    const stored = await direct.get<{ by: string }>('claimed');
    expect(stored?.value).toEqual({ by: 'h1' });
  });

  it('answers a delete whose first try timed out as done when its keys are gone, whichever try took them', async () => {
    await direct.txn({ compare: [{ key: 'doomed', modRevision: 0 }], put: [['doomed', 1]] });
    proxy.hold(CALL_TIMEOUT_MS + 150);
    expect(await kv.txnRevision({ compare: [{ key: 'doomed', exists: true }], delete: ['doomed'] })).toBeGreaterThan(0);
    expect(await direct.get('doomed')).toBeUndefined();
  });

  it('sends an unconditional write once more when its first try timed out, and answers it', async () => {
    proxy.hold(CALL_TIMEOUT_MS + 150);
    await kv.idempotent((c) => c.put('plain').value('"v"').exec());
    expect((await direct.get<string>('plain'))?.value).toBe('v');
  });

  it('still tells a write that lost to another writer as lost, when no try failed', async () => {
    await direct.txn({ compare: [{ key: 'taken', modRevision: 0 }], put: [['taken', { by: 'h2' }]] });
    expect(await kv.txnRevision({ compare: [{ key: 'taken', modRevision: 0 }], put: [['taken', { by: 'h1' }]] })).toBeUndefined();
    expect((await direct.get<{ by: string }>('taken'))?.value).toEqual({ by: 'h2' });
  });

  it('retries a read whose first try timed out, and answers it', async () => {
    await direct.txn({ compare: [{ key: 'read-me', modRevision: 0 }], put: [['read-me', 1]] });
    proxy.hold(CALL_TIMEOUT_MS + 150);
    expect((await kv.get<number>('read-me'))?.value).toBe(1);
  });

  it('answers a write normally once etcd answers in time again', async () => {
    expect(await kv.txn({ compare: [{ key: 'later', modRevision: 0 }], put: [['later', true]] })).toBe(true);
    expect((await direct.get<boolean>('later'))?.value).toBe(true);
  });
});
