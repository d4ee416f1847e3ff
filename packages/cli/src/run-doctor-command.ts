import { execFile } from "node:child_process";
import { readFile } from "node:fs/promises";
import { createServer } from "node:net";
import { freemem, totalmem } from "node:os";
import { promisify } from "node:util";
import type { Command } from "commander";
import { readCliConfig } from "./cli-config.js";
import type { CliContext } from "./cli-context.js";
import { connectTime, tcpTarget } from "./detect-region.js";
import { withExample } from "./help-example.js";

export type CheckLevel = "ok" | "warn" | "fail" | "skip";
export interface DoctorCheck {
  name: string;
  level: CheckLevel;
  detail: string;
  /** What to change, and the command that does it; the doctor runs none of them. */
  fix?: string;
}

const run = promisify(execFile);
const output = (command: string, args: string[]) =>
  run(command, args, { timeout: 10_000 }).then(
    (result) => result.stdout.trim(),
    () => null,
  );

async function nvidiaChecks(): Promise<DoctorCheck[]> {
  const query = await output("nvidia-smi", [
    "--query-gpu=name,driver_version,persistence_mode,power.limit,power.max_limit",
    "--format=csv,noheader,nounits",
  ]);
  if (query === null)
    return [
      {
        name: "gpu driver",
        level: "skip",
        detail: "no NVIDIA GPU (nvidia-smi not found); other GPUs are used through Vulkan or Metal",
      },
    ];
  return query.split("\n").flatMap((line, index): DoctorCheck[] => {
    const [name, driver, persistence, limit, max] = line.split(",").map((part) => part.trim());
    const checks: DoctorCheck[] = [{ name: `gpu ${index} driver`, level: "ok", detail: `${name}, driver ${driver}` }];
    checks.push(
      persistence === "Enabled"
        ? { name: `gpu ${index} persistence mode`, level: "ok", detail: "enabled" }
        : {
            name: `gpu ${index} persistence mode`,
            level: "warn",
            detail: "disabled: the first request after idle waits for the driver",
            fix: `sudo nvidia-smi -i ${index} -pm 1`,
          },
    );
    if (limit && max && Number(limit) < Number(max) * 0.9)
      checks.push({
        name: `gpu ${index} power limit`,
        level: "warn",
        detail: `${limit} W of ${max} W`,
        fix: `sudo nvidia-smi -i ${index} -pl ${Math.round(Number(max))}`,
      });
    return checks;
  });
}

async function governorCheck(): Promise<DoctorCheck> {
  const governor = await readFile("/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor", "utf8").then(
    (text) => text.trim(),
    () => null,
  );
  if (governor === null) return { name: "cpu governor", level: "skip", detail: "not exposed on this system" };
  return governor === "performance" || governor === "schedutil"
    ? { name: "cpu governor", level: "ok", detail: governor }
    : {
        name: "cpu governor",
        level: "warn",
        detail: `${governor}: generation on the CPU runs slower`,
        fix: "sudo cpupower frequency-set -g performance",
      };
}

function portCheck(port: number): Promise<DoctorCheck> {
  return new Promise((done) => {
    const server = createServer();
    server.once("error", () =>
      done({
        name: `port ${port}`,
        level: "warn",
        detail: "in use (by a running node, or something else)",
        fix: `ss -ltnp 'sport = :${port}'   (to see what holds it)`,
      }),
    );
    server.listen(port, "0.0.0.0", () => server.close(() => done({ name: `port ${port}`, level: "ok", detail: "free" })));
  });
}

async function clockCheck(): Promise<DoctorCheck> {
  const synced = await output("timedatectl", ["show", "-p", "NTPSynchronized", "--value"]);
  if (synced === null)
    return {
      name: "clock",
      level: "skip",
      detail: "timedatectl not available: keep the clock synchronised (requests expire by it)",
    };
  return synced === "yes"
    ? { name: "clock", level: "ok", detail: "synchronised (NTP)" }
    : {
        name: "clock",
        level: "warn",
        detail: "not synchronised: signed requests and receipts carry expiry times",
        fix: "sudo timedatectl set-ntp true",
      };
}

async function bootstrapCheck(bootstrap: string[]): Promise<DoctorCheck> {
  if (bootstrap.length === 0)
    return {
      name: "bootstrap peers",
      level: "warn",
      detail: "none configured: the node finds only peers that dial it",
      fix: "opengateway config set bootstrap <multiaddr>",
    };
  const reachable = await Promise.all(
    bootstrap.map(async (address) => {
      const target = tcpTarget(address);
      return target !== null && (await connectTime(target, 3_000)) !== null;
    }),
  );
  const count = reachable.filter(Boolean).length;
  return count > 0
    ? { name: "bootstrap peers", level: "ok", detail: `${count} of ${bootstrap.length} reachable` }
    : {
        name: "bootstrap peers",
        level: "fail",
        detail: `none of ${bootstrap.length} reachable`,
        fix: "check the network or firewall, or: opengateway config set bootstrap <multiaddr>",
      };
}

/** `opengateway doctor`: checks the system and says what to change; it changes nothing. */
export async function runDoctorCommand(options: { home: string; json: boolean }): Promise<void> {
  const config = await readCliConfig(options.home);
  const major = Number(process.versions.node.split(".")[0]);
  const free = freemem();
  const checks: DoctorCheck[] = [
    major >= 20
      ? { name: "node.js", level: "ok", detail: process.version }
      : { name: "node.js", level: "fail", detail: `${process.version} is too old`, fix: "install Node.js 22: see install.sh" },
    free > 2 * 1024 ** 3
      ? {
          name: "free memory",
          level: "ok",
          detail: `${(free / 1024 ** 3).toFixed(1)} of ${(totalmem() / 1024 ** 3).toFixed(1)} GiB`,
        }
      : {
          name: "free memory",
          level: "warn",
          detail: `${(free / 1024 ** 3).toFixed(1)} GiB free`,
          fix: "close other programs, or choose a smaller model: opengateway models recommend",
        },
    ...(await nvidiaChecks()),
    await governorCheck(),
    ...(await Promise.all([4001, 4002].map(portCheck))),
    await clockCheck(),
    await bootstrapCheck(config.bootstrap ?? []),
  ];
  if (options.json) {
    process.stdout.write(`${JSON.stringify(checks)}\n`);
    return;
  }
  const marks: Record<CheckLevel, string> = { ok: "ok  ", warn: "warn", fail: "FAIL", skip: "--  " };
  for (const check of checks) {
    process.stdout.write(`  ${marks[check.level]}  ${check.name.padEnd(24)} ${check.detail}\n`);
    if (check.fix) process.stdout.write(`        ${"".padEnd(24)} fix: ${check.fix}\n`);
  }
}

export function registerDoctorCommand(program: Command, cli: CliContext): void {
  withExample(
    program
      .command("doctor")
      .description(
        "check the driver, GPU settings, CPU governor, memory, ports, clock and bootstrap peers; prints fixes, changes nothing",
      )
      .option("--json", "machine-readable output", false)
      .option("--home <dir>", "data directory", cli.defaultHome),
    "opengateway doctor",
  ).action((options: { home: string; json: boolean }) => runDoctorCommand(options));
}
