/**
 * Structured JSON logging (pino) to stderr, so stdout stays free for CLI output.
 * @module
 */
import pino, { type Logger } from "pino";

/**
 * Creates the process logger.
 * @param level - minimum level ("trace" … "error", or "silent").
 */
export function createLogger(level: string): Logger {
  return pino({ level, base: { service: "dcsm" } }, pino.destination(2));
}

export type { Logger };
