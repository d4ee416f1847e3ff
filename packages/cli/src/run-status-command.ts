import { existsSync } from "node:fs";
import { join } from "node:path";
import type { Command } from "commander";
import type { CliContext } from "./cli-context.js";
import { withExample } from "./help-example.js";
import { NODE_KEY_FILE } from "./node-identity.js";
import type { NodeStatus } from "./node-status.js";
import { NODE_STATUS_FILE, readNodeStatus } from "./node-status.js";

export interface StatusOptions {
  home: string;
  json: boolean;
}

export type StatusReport =
  | ({ running: true } & NodeStatus)
  | { running: false; state: "stopped" | "not set up"; peerId: string | null };

/** The node's own account of itself (its status file), or that none runs on this data directory. */
export async function statusReport(options: StatusOptions, cli: CliContext): Promise<StatusReport> {
  const status = await readNodeStatus(options.home);
  if (status) return { running: true, ...status };
  if (!existsSync(join(options.home, NODE_KEY_FILE))) return { running: false, state: "not set up", peerId: null };
  const { loadNodeIdentity } = await import("./node-identity.js");
  const identity = await loadNodeIdentity({ home: options.home, passphrase: cli.passphrase }, cli.logger);
  return { running: false, state: "stopped", peerId: identity.id };
}

function describe(report: StatusReport): string[] {
  if (!report.running) {
    return report.peerId === null
      ? ["  no node is set up here: run 'opengateway setup'"]
      : [`  node       ${report.peerId}`, "  state      stopped: start it with 'opengateway node start'"];
  }
  const ledger = report.ledger;
  return [
    `  node       ${report.peerId}  (pid ${report.pid}, since ${report.startedAt})`,
    `  state      ${report.state}${report.temperature?.celsius != null ? `, ${report.temperature.celsius.toFixed(0)} °C` : ""}`,
    `  model      ${report.models.join(", ")}  (${report.modelPath})`,
    `  region     ${report.region ?? "any"}`,
    `  peers      ${report.peers}`,
    `  queue      ${report.queue.active} of ${report.queue.parallel} busy, ${report.queue.queued} waiting`,
    ledger
      ? `  credits    ${ledger.registered ? `balance ${ledger.balance}, earned ${ledger.earned} since start, claimed ${ledger.claimed}${ledger.debt ? `, debt ${ledger.debt}` : ""}` : "registering…"}`
      : "  credits    none (--no-credits)",
    ...(ledger
      ? [
          `  reputation ${ledger.reputation.score} of 1000${ledger.reputation.eligible ? "" : " (below the threshold for paid work)"}: ${ledger.reputation.paidReceipts} paid receipts, ${ledger.reputation.disputedClaims} disputed claims${ledger.reputation.slashed || ledger.reputation.frozen ? ", slashed or frozen" : ""}`,
        ]
      : []),
    ...report.addresses.map((address, index) => `${index === 0 ? "  addresses  " : "             "}${address}`),
  ];
}

export async function runStatusCommand(options: StatusOptions, cli: CliContext): Promise<void> {
  const report = await statusReport(options, cli);
  process.stdout.write(options.json ? `${JSON.stringify(report)}\n` : `${describe(report).join("\n")}\n`);
}

/** `opengateway status [--json]`. */
export function registerStatusCommand(program: Command, cli: CliContext): void {
  withExample(
    program
      .command("status")
      .description(`how the node on this data directory is doing (from <home>/${NODE_STATUS_FILE}, renewed every 5 s)`)
      .option("--json", "machine-readable output", false)
      .option("--home <dir>", "data directory", cli.defaultHome),
    "opengateway status",
    "opengateway status --json | jq '.queue, .ledger.reputation.score'",
  ).action((options: StatusOptions) => runStatusCommand(options, cli));
}
