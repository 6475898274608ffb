import pino from 'pino';
import pretty from 'pino-pretty';

export type Logger = pino.Logger;

/** Root logger: JSON lines for machines (default) or readable text for people (LOG_FORMAT=text). */
export function createLogger(
  opts: { format: 'json' | 'text'; level: string },
  destination?: pino.DestinationStream,
): Logger {
  const options: pino.LoggerOptions = { level: opts.level, base: { service: 'callbridge' } };
  if (destination) return pino(options, destination);
  if (opts.format === 'text')
    return pino(
      options,
      pretty({ colorize: process.stdout.isTTY, ignore: 'pid,hostname,service', translateTime: 'HH:MM:ss.l' }),
    );
  return pino(options);
}

/** A logger that drops everything (tests, benchmarks). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
