import { execFile, execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";

export const CLI_BIN = fileURLToPath(new URL("../bin.js", import.meta.url));

/** The environment of a CLI process a test starts: no mDNS multicast onto this machine's network unless the test asks for it. */
export function cliEnv(env: Record<string, string | undefined>): Record<string, string | undefined> {
  return { OPENGATEWAY_NO_MDNS: "1", ...process.env, ...env };
}

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** The `opengateway` command as a user runs it: its own process, its own environment. */
export function opengateway(
  args: string[],
  env: Record<string, string | undefined> = {},
  options: { timeoutMs?: number; input?: string } = {},
): Promise<CliRun> {
  return new Promise((resolve) => {
    const child = execFile(
      process.execPath,
      [CLI_BIN, ...args],
      { env: cliEnv(env), timeout: options.timeoutMs ?? 30_000, maxBuffer: 16 * 1024 * 1024 },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === "number" ? error.code : 1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
    child.stdin?.end(options.input ?? "");
  });
}

/** Whether a program is on the PATH (tests that need shellcheck or systemd-analyze skip without it, except in CI). */
export function hasCommand(name: string): boolean {
  try {
    execFileSync("sh", ["-c", `command -v ${name}`], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}
