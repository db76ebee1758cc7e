import { ConfigError, envName, loadConfig, SERVE_FLAGS } from '../config/config.js';
import { createLogger } from '../lib/logger.js';
import { PluginSocket } from '../protocol/plugin-socket.js';

export const serveHelp = `Usage: ts-overlay serve [flags]

Serves the Docker remote network and IPAM driver API on a Unix socket, keeping cluster
state in etcd and wiring VXLAN devices and their macvlan ports on this host.

Flags (each also settable by the environment variable shown):
${Object.entries(SERVE_FLAGS)
  .map(([flag, { help, default: d }]) => `  --${flag.padEnd(16)} ${help}${d ? ` [${d}]` : ''}\n  ${''.padEnd(18)} env ${envName(flag)}`)
  .join('\n')}
`;

export async function serve(argv: string[]): Promise<number> {
  let config;
  try {
    config = loadConfig(argv, process.env);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`ts-overlay serve: ${err.message}\n\n${serveHelp}`);
      return 2;
    }
    throw err;
  }
  const log = createLogger(config.logLevel);
  let app;
  try {
    // Listening before the rest of the plugin is loaded (most of a second here): the engine
    // looks for a managed plugin's socket 0.5 s after starting it (see PluginSocket).
    const socket = await PluginSocket.open(config.socket);
    log.debug({ socket: config.socket, msSinceProcessStart: Math.round(process.uptime() * 1000) }, 'socket listening; loading the plugin');
    const { startApp } = await import('../app.js');
    app = await startApp(config, log, socket);
  } catch (err) {
    log.fatal({ err }, 'could not start');
    return 1;
  }
  await new Promise<void>((resolve) => {
    const shutdown = (signal: string) => {
      log.info({ signal }, 'shutting down; kernel state stays for running containers');
      resolve();
    };
    process.once('SIGTERM', () => shutdown('SIGTERM'));
    process.once('SIGINT', () => shutdown('SIGINT'));
  });
  await app.stop();
  return 0;
}
