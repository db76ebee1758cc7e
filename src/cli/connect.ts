import { type Config, ConfigError, loadConfig } from '../config/config.js';
import { Dataplane } from '../dataplane/dataplane.js';
import { Runner } from '../dataplane/runner.js';
import { silentLogger } from '../lib/logger.js';
import { ClusterStore } from '../store/cluster-store.js';
import { etcdConnection } from '../store/etcd-connection.js';
import { EtcdKv } from '../store/etcd-kv.js';

/**
 * What the operator commands share: the serve flags (and TS_OVERLAY_* variables) to find
 * etcd and name this node, and a store that gives up quickly when etcd is away.
 */
export function parseCommand(argv: readonly string[], switches: readonly string[]): { config: Config; on: Set<string>; positionals: string[] } {
  const on = new Set<string>();
  const rest: string[] = [];
  const positionals: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (switches.includes(arg)) on.add(arg);
    else if (arg.startsWith('--')) {
      rest.push(arg);
      if (!arg.includes('=') && i + 1 < argv.length) rest.push(argv[++i]!);
    } else positionals.push(arg);
  }
  return { config: loadConfig(rest, process.env), on, positionals };
}

export function openStore(config: Config) {
  const kv = new EtcdKv(etcdConnection(config, 3000), silentLogger);
  return { store: new ClusterStore(kv, silentLogger), close: () => kv.close() };
}

export const localDataplane = (config: Config) => new Dataplane(new Runner(), { vtep: config.advertiseAddr ?? '', port: config.vxlanPort });

/** Runs a command body, turning every failure into one readable line and exit status 1. */
export async function report(command: string, body: () => Promise<number>): Promise<number> {
  try {
    return await body();
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    process.stderr.write(`ts-overlay ${command}: ${message}\n`);
    return err instanceof ConfigError ? 2 : 1;
  }
}
