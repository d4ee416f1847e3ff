import { OpenGatewayError } from "@opengateway/protocol";

/**
 * How a command that failed says so: one plain sentence on stderr (the error's own message, which
 * for the CLI's errors says what to do), and the stack and causes only with `--verbose`.
 */
export function reportFatalError(error: unknown, options: { verbose: boolean }): void {
  const message = error instanceof Error ? error.message : String(error);
  const sentence = message.split("\n")[0]?.trim() || "it failed";
  const hint = OpenGatewayError.isInstance(error) || options.verbose ? "" : " (run it again with --verbose for the details)";
  process.stderr.write(`opengateway: ${sentence}${hint}\n`);
  if (!options.verbose) return;
  for (let cause: unknown = error; cause !== undefined; cause = cause instanceof Error ? cause.cause : undefined) {
    process.stderr.write(`${cause instanceof Error ? (cause.stack ?? cause.message) : String(cause)}\n`);
    if (!(cause instanceof Error)) break;
  }
}
