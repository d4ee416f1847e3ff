import type { ComponentLogger } from "@libp2p/interface";
import type { LogFields, Logger } from "@opengateway/protocol";

/**
 * The `Logger` of a libp2p service that was given none: its lines go where libp2p's own go
 * (the `DEBUG=opengateway:*` convention), under the component's name.
 */
export function componentLogger(logger: ComponentLogger, name: string): Logger {
  const log = logger.forComponent(name);
  const debug = (fields: LogFields, message: string) => log("%s %o", message, fields);
  const error = (fields: LogFields, message: string) => log.error("%s %o", message, fields);
  return { debug, info: debug, warn: error, error };
}
