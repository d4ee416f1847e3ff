import type { Command } from "commander";

/** Ends the command's `--help` with examples a user can paste. */
export function withExample<T extends Command>(command: T, ...examples: string[]): T {
  return command.addHelpText(
    "after",
    `\nExample${examples.length > 1 ? "s" : ""}:\n${examples.map((line) => `  $ ${line}`).join("\n")}\n`,
  );
}
