import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { internal } from '../lib/errors.js';
import type { TunnelCommand, TunnelReply, TunnelSettings, TunnelStats } from './crypto-tunnel-protocol.js';

type Request = TunnelCommand extends infer C ? (C extends { id: number } ? Omit<C, 'id'> : never) : never;

export interface TunnelKeys {
  readonly keys: ReadonlyArray<{ readonly id: number; readonly secret: string }>;
  readonly primary: number;
}

/**
 * The plugin's handle on the tunnel process (crypto-tunnel-process.ts): starts it in the
 * host's namespace, tells it the keys and the peers, and learns each peer's loopback port.
 * The process is started on first use and stopped when no encrypted network is left.
 */
export class CryptoTunnel {
  private child: ChildProcess | undefined;
  private nextId = 1;
  private readonly waiting = new Map<number, { resolve: (r: TunnelReply) => void; reject: (e: Error) => void }>();

  constructor(
    private readonly settings: TunnelSettings,
    /** Network namespace to start the process in (tests); undefined: our own. */
    private readonly netns?: string,
    private readonly onExit: (why: string) => void = () => undefined,
  ) {}

  get running(): boolean {
    return this.child !== undefined;
  }

  /** Gives the process the keys and the peers; returns each peer's loopback relay port. */
  async update(keys: TunnelKeys, peers: readonly string[]): Promise<Map<string, number>> {
    const reply = await this.request({ type: 'update', keys: keys.keys, primary: keys.primary, peers });
    if (reply.type !== 'updated') throw internal(`tunnel: unexpected reply ${reply.type}`);
    return new Map(Object.entries(reply.ports));
  }

  async stats(): Promise<TunnelStats> {
    const reply = await this.request({ type: 'stats' });
    if (reply.type !== 'stats') throw internal(`tunnel: unexpected reply ${reply.type}`);
    return reply.stats;
  }

  async stop(): Promise<void> {
    const child = this.child;
    if (!child) return;
    this.child = undefined;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    await Promise.race([exited, new Promise((r) => setTimeout(r, 3000))]);
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }

  private start(): ChildProcess {
    const script = fileURLToPath(new URL(`./crypto-tunnel-process${import.meta.url.endsWith('.ts') ? '.ts' : '.js'}`, import.meta.url));
    // From the TypeScript sources (tests), tsx loads the script; the built plugin runs the .js.
    const node = [process.execPath, ...(script.endsWith('.ts') ? ['--import', 'tsx'] : []), script];
    const [cmd, ...args] = this.netns ? ['ip', 'netns', 'exec', this.netns, ...node] : node;
    const child = spawn(cmd!, args, {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      env: { ...process.env, TS_OVERLAY_TUNNEL: JSON.stringify(this.settings) },
    });
    child.on('message', (m: TunnelReply & { id: number }) => {
      const w = this.waiting.get(m.id);
      this.waiting.delete(m.id);
      if (m.type === 'error') w?.reject(internal(`tunnel: ${m.message}`));
      else w?.resolve(m);
    });
    let ended = false;
    const end = (why: string) => {
      if (ended) return;
      ended = true;
      for (const w of this.waiting.values()) w.reject(internal(why));
      this.waiting.clear();
      if (this.child === child) {
        this.child = undefined;
        this.onExit(why);
      }
    };
    child.once('exit', (code, signal) => end(`tunnel process exited (${signal ?? `code ${code}`})`));
    // A process that could not be started (EAGAIN, ENOMEM) reports 'error', not 'exit'; with
    // no listener that error would end the plugin.
    child.on('error', (err) => end(`tunnel process failed: ${err.message}`));
    return child;
  }

  private request(body: Request): Promise<TunnelReply> {
    this.child ??= this.start();
    const id = this.nextId++;
    const child = this.child;
    return new Promise<TunnelReply>((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      child.send({ id, ...body } as TunnelCommand, (err) => {
        if (err) {
          this.waiting.delete(id);
          reject(internal(`tunnel: ${err.message}`, err));
        }
      });
      setTimeout(() => {
        if (this.waiting.delete(id)) reject(internal('tunnel process did not answer within 10 s'));
      }, 10_000).unref();
    });
  }
}
