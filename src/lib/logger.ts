import { pino, type Logger } from 'pino';

export type { Logger };

/** pino JSON to stdout; components take `logger.child({ component })`. */
export function createLogger(level: string): Logger {
  return pino({ level, base: { app: 'ts-overlay' } });
}

/** A silent logger for tests and one-shot CLI commands. */
export const silentLogger: Logger = pino({ level: 'silent' });
