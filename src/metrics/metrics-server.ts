import Fastify, { type FastifyInstance } from 'fastify';
import type { HealthMonitor } from './health.js';

export interface MetricsEndpoint {
  exposition(): Promise<string>;
  readonly contentType: string;
}

/**
 * The HTTP side for Prometheus and the service manager, on its own TCP listener (the plugin
 * API stays on the Unix socket): GET /metrics, and GET /healthz answering 200 when healthy,
 * 503 with the reasons otherwise. Built without listening, so tests use inject().
 */
export function buildMetricsServer(metrics: MetricsEndpoint, health: Pick<HealthMonitor, 'report'>): FastifyInstance {
  const app = Fastify({ logger: false });
  app.get('/metrics', async (_req, reply) => {
    void reply.header('Content-Type', metrics.contentType);
    return metrics.exposition();
  });
  app.get('/healthz', async (_req, reply) => {
    const report = await health.report();
    void reply.code(report.healthy ? 200 : 503);
    return { status: report.healthy ? 'ok' : 'unhealthy', reasons: report.reasons, etcdAnsweredMsAgo: report.etcdAnsweredMsAgo ?? null };
  });
  return app;
}
