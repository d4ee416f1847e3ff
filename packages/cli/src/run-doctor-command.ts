import { execFile } from "node:child_process";
import { readFile } from "node:fs/promises";
import { createServer } from "node:net";
import { freemem, totalmem } from "node:os";
import { promisify } from "node:util";
import type { Command } from "commander";
import type { BootstrapChoice } from "./bootstrap-peers.js";
import { commandBootstrap } from "./bootstrap-peers.js";
import type { CliContext } from "./cli-context.js";
import type { TxtResolver } from "./detect-region.js";
import { connectTime, tcpTargets } from "./detect-region.js";
import { withExample } from "./help-example.js";
import { bootstrapOption } from "./network-options.js";

export interface DoctorOptions {
  home: string;
  json: boolean;
  /** The bootstrap peers to check: given (flag, OPENGATEWAY_BOOTSTRAP, config), else the region's built-in list. */
  bootstrap?: string[];
}

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

/** Each bootstrap peer that answers a TCP connect (a `/dnsaddr/` one: any address its records list), and how fast. */
export async function reachableBootstrapPeers(
  addresses: readonly string[],
  options: { resolveTxt?: TxtResolver; timeoutMs?: number } = {},
): Promise<Array<{ address: string; ms: number | null }>> {
  return Promise.all(
    addresses.map(async (address) => {
      const times = await Promise.all(
        (await tcpTargets(address, options)).map((target) => connectTime(target, options.timeoutMs ?? 3_000)),
      );
      const answered = times.filter((ms): ms is number => ms !== null);
      return { address, ms: answered.length > 0 ? Math.min(...answered) : null };
    }),
  );
}

async function bootstrapCheck(choice: BootstrapChoice): Promise<DoctorCheck> {
  if (choice.addresses.length === 0)
    return {
      name: "bootstrap peers",
      level: "warn",
      detail: `none: none given, and the built-in list${choice.region ? ` for ${choice.region}` : ""} is empty (no public bootstrap relay runs yet); only peers on this LAN (mDNS) and peers that dial in are found`,
      fix: "opengateway config set bootstrap <multiaddr of a full node or relay>",
    };
  const peers = await reachableBootstrapPeers(choice.addresses);
  const reachable = peers.filter((peer) => peer.ms !== null);
  const from = choice.source === "given" ? "given" : `built in${choice.region ? `, ${choice.region} first` : ""}`;
  return reachable.length > 0
    ? {
        name: "bootstrap peers",
        level: "ok",
        detail: `${reachable.length} of ${peers.length} reachable (${from}): ${reachable.map((peer) => `${peer.address} ${Math.round(peer.ms ?? 0)} ms`).join(", ")}`,
      }
    : {
        name: "bootstrap peers",
        level: "fail",
        detail: `none of ${peers.length} reachable (${from})`,
        fix: "check the network or firewall, or: opengateway config set bootstrap <multiaddr>",
      };
}

/** `opengateway doctor`: checks the system and says what to change; it changes nothing. */
export async function runDoctorCommand(options: DoctorOptions): Promise<void> {
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
    await bootstrapCheck(await commandBootstrap({ bootstrap: options.bootstrap, home: options.home })),
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
      .addOption(bootstrapOption("bootstrap peers to check (default: the config's, else the region's built-in list)"))
      .option("--home <dir>", "data directory", cli.defaultHome),
    "opengateway doctor",
    "opengateway doctor --json | jq '.[] | select(.name == \"bootstrap peers\")'",
  ).action((options: DoctorOptions) => runDoctorCommand(options));
}
