/** The structured fields of one log line; an error goes in `err` (as pino names it). */
export type LogFields = Record<string, unknown>;

/**
 * What library code logs through instead of taking `onError` callbacks: what fails in the
 * background (a timer, a gossip message, a peer's exchange) is logged here, never thrown. pino's
 * `Logger` fits as it is; a libp2p service's `ComponentLogger` fits through `componentLogger` (p2p).
 */
export interface Logger {
  debug(fields: LogFields, message: string): void;
  info(fields: LogFields, message: string): void;
  warn(fields: LogFields, message: string): void;
  error(fields: LogFields, message: string): void;
}

/** Logs nothing: the default where a caller passes no logger. */
export const silentLogger: Logger = {
  debug: () => {},
  info: () => {},
  warn: () => {},
  error: () => {},
};
