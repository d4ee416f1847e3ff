import type { ChildProcess } from "node:child_process";
import { spawn } from "node:child_process";
import { once } from "node:events";
import type { StatusReport } from "../run-status-command.js";
import { CLI_BIN, cliEnv, opengateway } from "./run-cli.js";

/** `opengateway node start` in its own process, as a user (or a service manager) runs it. */
export class CliNode {
  readonly child: ChildProcess;
  output = "";

  constructor(args: string[], env: Record<string, string>) {
    this.child = spawn(process.execPath, [CLI_BIN, "node", "start", ...args], {
      env: cliEnv(env),
      stdio: ["ignore", "pipe", "pipe"],
    });
    this.child.stdout?.on("data", (chunk: Buffer) => {
      this.output += chunk.toString();
    });
    this.child.stderr?.on("data", (chunk: Buffer) => {
      this.output += chunk.toString();
    });
  }

  /** Polls `opengateway status --json` until `until` holds (generous: a loaded CI machine loads models slowly). */
  async status(
    env: Record<string, string>,
    until: (report: StatusReport) => boolean,
    timeoutMs = 120_000,
  ): Promise<StatusReport> {
    const deadline = Date.now() + timeoutMs;
    let last = "";
    while (Date.now() < deadline) {
      if (this.child.exitCode !== null) throw new Error(`the node exited (${this.child.exitCode}): ${this.output}`);
      const run = await opengateway(["status", "--json"], env);
      last = run.stdout + run.stderr;
      if (run.code === 0) {
        const report = JSON.parse(run.stdout) as StatusReport;
        if (until(report)) return report;
      }
      await new Promise((resolve) => setTimeout(resolve, 1_000));
    }
    throw new Error(`status never matched; last: ${last}\nnode output: ${this.output}`);
  }

  /** SIGTERM, as `systemctl stop` sends; resolves with the exit code. */
  async stop(): Promise<number | null> {
    if (this.child.exitCode !== null) return this.child.exitCode;
    const exited = once(this.child, "exit");
    this.child.kill("SIGTERM");
    const timer = setTimeout(() => this.child.kill("SIGKILL"), 30_000);
    await exited;
    clearTimeout(timer);
    return this.child.exitCode;
  }
}
