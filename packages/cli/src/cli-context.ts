import type { Logger } from "pino";

/** What the entry point read from the environment, handed to every command's definition. */
export interface CliContext {
  /** OPENGATEWAY_HOME, or ~/.opengateway. */
  readonly defaultHome: string;
  readonly env: NodeJS.ProcessEnv;
  /** OPENGATEWAY_PASSPHRASE or the contents of OPENGATEWAY_PASSPHRASE_FILE. */
  readonly passphrase: string | undefined;
  readonly logger: Logger;
}
