import { stat } from 'node:fs/promises';
import type { Server } from 'node:net';
import type { Logger } from '../lib/logger.js';
import { type HealthSources, HealthMonitor } from './health.js';
import { buildMetricsServer, type MetricsEndpoint } from './metrics-server.js';

export interface MetricsListener {
  close(): Promise<void>;
}

/** Starts the etcd probes and serves /metrics and /healthz on `addr` (the --metrics-addr flag). */
export async function serveMetrics(
  addr: { readonly host: string; readonly port: number },
  metrics: MetricsEndpoint,
  sources: HealthSources,
  log: Logger,
): Promise<MetricsListener> {
  const health = new HealthMonitor(sources);
  await health.start();
  const app = buildMetricsServer(metrics, health);
  try {
    await app.listen({ host: addr.host, port: addr.port });
  } catch (err) {
    health.stop();
    throw err;
  }
  log.info({ addr: `${addr.host}:${addr.port}` }, 'serving /metrics and /healthz');
  return {
    async close() {
      health.stop();
      await app.close();
    },
  };
}

/**
 * Why the engine could not reach the plugin API: the server stopped listening, or the
 * socket file is gone (removed by hand, or by a second plugin that then exited), which the
 * listening server alone would not show.
 */
export async function unixSocketProblem(server: Pick<Server, 'listening'>, path: string): Promise<string | undefined> {
  if (!server.listening) return `the plugin API is not listening on ${path}`;
  try {
    if (!(await stat(path)).isSocket()) return `${path} is not a socket: the engine cannot reach the plugin`;
  } catch {
    return `the plugin socket ${path} is missing: the engine cannot reach the plugin (restart the plugin)`;
  }
  return undefined;
}
