/**
 * Structured JSON logs (pino): one object per line, so a node's log collector can index them. The destination is
 * injected: main passes stdout, tests pass a stream they read back.
 */
import { pino, type DestinationStream, type Logger } from 'pino';
import type { LogLevel } from './config.js';

export type { Logger };

export function createLogger(level: LogLevel, destination: DestinationStream): Logger {
  return pino(
    {
      level,
      base: { component: 'podflame-agent' },
      // ISO time is easier to read next to kubectl's and dockerd's logs than epoch milliseconds.
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    destination,
  );
}
