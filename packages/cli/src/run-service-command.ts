import { execFile } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { chmod, mkdir, rm, writeFile } from "node:fs/promises";
import { homedir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { errorClass } from "@opengateway/protocol";
import type { Command } from "commander";
import { Option } from "commander";
import type { CliContext } from "./cli-context.js";
import { withExample } from "./help-example.js";

/** How a node is started at boot or login: a systemd user unit, a launchd agent, or a Windows task that starts WSL. */
export const SERVICE_PLATFORMS = ["systemd", "launchd", "wsl"] as const;
export type ServicePlatform = (typeof SERVICE_PLATFORMS)[number];

export class ServiceCommandError extends errorClass("ServiceCommandError", "service_failed", (message: string) => message) {}

export const SERVICE_NAME = "opengateway";
export const LAUNCHD_LABEL = "network.opengateway.node";
const CLI_BIN = fileURLToPath(new URL("./bin.js", import.meta.url));

export interface ServiceOptions {
  home: string;
  platform?: ServicePlatform;
  dryRun: boolean;
}

/** The platform this machine starts services with. */
export function detectServicePlatform(): ServicePlatform {
  if (process.platform === "darwin") return "launchd";
  if (process.platform !== "linux")
    throw new ServiceCommandError(`${process.platform} is not supported: run the node under WSL2 on Windows.`);
  const version = existsSync("/proc/version") ? readFileSync("/proc/version", "utf8") : "";
  return /microsoft/i.test(version) ? "wsl" : "systemd";
}

/** The command that runs the node: this Node.js and this CLI, on the data directory (its config says the rest). */
function nodeCommand(home: string): string[] {
  return [process.execPath, CLI_BIN, "node", "start", "--home", home];
}

/** Passed on to the service: where the key's passphrase is kept (never the passphrase itself). */
function serviceEnvironment(env: NodeJS.ProcessEnv): Record<string, string> {
  return env.OPENGATEWAY_PASSPHRASE_FILE ? { OPENGATEWAY_PASSPHRASE_FILE: env.OPENGATEWAY_PASSPHRASE_FILE } : {};
}

const systemdQuote = (word: string) => `"${word.replace(/\\/g, "\\\\").replace(/"/g, '\\"')}"`;
const xml = (text: string) => text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
const sh = (word: string) => `'${word.replace(/'/g, "'\\''")}'`;

export function systemdUnit(home: string, env: Record<string, string>): string {
  return [
    "[Unit]",
    "Description=OpenGateway full node",
    "After=network-online.target",
    "Wants=network-online.target",
    "",
    "[Service]",
    "Type=simple",
    `ExecStart=${nodeCommand(home).map(systemdQuote).join(" ")}`,
    ...Object.entries(env).map(([key, value]) => `Environment=${systemdQuote(`${key}=${value}`)}`),
    "Restart=on-failure",
    "RestartSec=10",
    // SIGTERM stops the node cleanly (its ledger and its peers); it gets 30 s before SIGKILL.
    "KillSignal=SIGTERM",
    "TimeoutStopSec=30",
    // journalctl --user -u opengateway -f
    "StandardOutput=journal",
    "StandardError=journal",
    "",
    "[Install]",
    "WantedBy=default.target",
    "",
  ].join("\n");
}

export function launchdPlist(home: string, env: Record<string, string>): string {
  const strings = (values: string[]) => values.map((value) => `    <string>${xml(value)}</string>`);
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    '<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">',
    '<plist version="1.0">',
    "<dict>",
    "  <key>Label</key>",
    `  <string>${LAUNCHD_LABEL}</string>`,
    "  <key>ProgramArguments</key>",
    "  <array>",
    ...strings(nodeCommand(home)),
    "  </array>",
    "  <key>EnvironmentVariables</key>",
    "  <dict>",
    ...Object.entries(env).flatMap(([key, value]) => [`    <key>${xml(key)}</key>`, `    <string>${xml(value)}</string>`]),
    "  </dict>",
    "  <key>RunAtLoad</key>",
    "  <true/>",
    "  <key>KeepAlive</key>",
    "  <dict>",
    "    <key>SuccessfulExit</key>",
    "    <false/>",
    "  </dict>",
    "  <key>ThrottleInterval</key>",
    "  <integer>10</integer>",
    "  <key>StandardOutPath</key>",
    `  <string>${xml(join(home, "node.log"))}</string>`,
    "  <key>StandardErrorPath</key>",
    `  <string>${xml(join(home, "node.log"))}</string>`,
    "</dict>",
    "</plist>",
    "",
  ].join("\n");
}

/** The script the Windows task runs inside WSL: the node, restarted after a failure, logging to <home>/node.log. */
export function wslLauncher(home: string, env: Record<string, string>): string {
  return [
    "#!/bin/sh",
    "# Started at Windows logon by the OpenGateway task (opengateway service install).",
    ...Object.entries(env).map(([key, value]) => `export ${key}=${sh(value)}`),
    "while :; do",
    `  ${nodeCommand(home).map(sh).join(" ")} >>${sh(join(home, "node.log"))} 2>&1 && break`,
    "  sleep 10",
    "done",
    "",
  ].join("\n");
}

export function wslTaskCommand(home: string, distro: string): string[] {
  return [
    "schtasks.exe",
    "/Create",
    "/F",
    "/TN",
    "OpenGateway",
    "/SC",
    "ONLOGON",
    "/RL",
    "LIMITED",
    "/TR",
    `wsl.exe -d ${distro} --exec /bin/sh ${join(home, "start-node.sh")}`,
  ];
}

interface ServiceFile {
  path: string;
  text: string;
  mode?: number;
}

function serviceFile(platform: ServicePlatform, home: string, env: Record<string, string>): ServiceFile {
  switch (platform) {
    case "systemd":
      return { path: join(homedir(), ".config", "systemd", "user", `${SERVICE_NAME}.service`), text: systemdUnit(home, env) };
    case "launchd":
      return { path: join(homedir(), "Library", "LaunchAgents", `${LAUNCHD_LABEL}.plist`), text: launchdPlist(home, env) };
    case "wsl":
      return { path: join(home, "start-node.sh"), text: wslLauncher(home, env), mode: 0o755 };
  }
}

const run = promisify(execFile);
/** A command as a shell line, to paste. */
const display = (command: string[]) => command.map((word) => (/[\s'"]/.test(word) ? `"${word}"` : word)).join(" ");

async function runTool(command: string[], what: string): Promise<string> {
  try {
    return (await run(command[0] as string, command.slice(1))).stdout;
  } catch (error) {
    const detail = (error as { stderr?: string }).stderr?.trim().split("\n")[0] || (error as Error).message;
    throw new ServiceCommandError(`${what} failed (${detail}): run '${display(command)}' yourself to see why.`);
  }
}

function activationCommands(platform: ServicePlatform, file: ServiceFile, home: string, env: NodeJS.ProcessEnv): string[][] {
  switch (platform) {
    case "systemd":
      return [
        ["systemctl", "--user", "daemon-reload"],
        ["systemctl", "--user", "enable", "--now", `${SERVICE_NAME}.service`],
      ];
    case "launchd":
      return [["launchctl", "load", "-w", file.path]];
    case "wsl":
      return [wslTaskCommand(home, env.WSL_DISTRO_NAME ?? "Ubuntu")];
  }
}

export async function serviceInstall(options: ServiceOptions, cli: CliContext): Promise<void> {
  const platform = options.platform ?? detectServicePlatform();
  const file = serviceFile(platform, options.home, serviceEnvironment(cli.env));
  const commands = activationCommands(platform, file, options.home, cli.env);
  if (options.dryRun) {
    process.stdout.write(`# ${file.path}\n${file.text}\n# then:\n${commands.map((command) => `${display(command)}\n`).join("")}`);
    return;
  }
  await mkdir(dirname(file.path), { recursive: true });
  await writeFile(file.path, file.text);
  if (file.mode) await chmod(file.path, file.mode);
  for (const command of commands) await runTool(command, `${file.path} is written, but ${command.slice(0, 2).join(" ")}`);
  const logs =
    platform === "systemd"
      ? `journalctl --user -u ${SERVICE_NAME} -f   (to keep it running after you log out: loginctl enable-linger $USER)`
      : `tail -f ${join(options.home, "node.log")}`;
  process.stdout.write(
    `The node now starts with this ${platform === "systemd" ? "login session and at boot" : "login"}.\n  logs  ${logs}\n`,
  );
}

export async function serviceUninstall(options: ServiceOptions, cli: CliContext): Promise<void> {
  const platform = options.platform ?? detectServicePlatform();
  const file = serviceFile(platform, options.home, serviceEnvironment(cli.env));
  const commands: string[][] =
    platform === "systemd"
      ? [["systemctl", "--user", "disable", "--now", `${SERVICE_NAME}.service`]]
      : platform === "launchd"
        ? [["launchctl", "unload", "-w", file.path]]
        : [["schtasks.exe", "/Delete", "/F", "/TN", "OpenGateway"]];
  if (options.dryRun) {
    process.stdout.write(`${commands.map(display).join("\n")}\nrm ${file.path}\n`);
    return;
  }
  if (existsSync(file.path)) {
    for (const command of commands) await runTool(command, command.slice(0, 2).join(" ")).catch(() => undefined);
    await rm(file.path, { force: true });
  }
  process.stdout.write(`The node no longer starts by itself (${file.path} removed).\n`);
}

export async function serviceStatus(options: ServiceOptions & { json: boolean }, cli: CliContext): Promise<void> {
  const platform = options.platform ?? detectServicePlatform();
  const file = serviceFile(platform, options.home, serviceEnvironment(cli.env));
  const installed = existsSync(file.path);
  let active: string | null = null;
  if (installed && platform === "systemd") {
    active = await runTool(["systemctl", "--user", "is-active", `${SERVICE_NAME}.service`], "systemctl")
      .then((out) => out.trim())
      .catch(() => "inactive");
  }
  const report = { platform, installed, file: file.path, active };
  process.stdout.write(
    options.json
      ? `${JSON.stringify(report)}\n`
      : `  service    ${installed ? `installed (${file.path})` : "not installed: opengateway service install"}\n${active ? `  state      ${active}\n` : ""}`,
  );
}

/** `opengateway service install|uninstall|status`. */
export function registerServiceCommand(program: Command, cli: CliContext): void {
  const service = withExample(
    program.command("service").description("start the node at boot or login, and restart it after a failure"),
    "opengateway service install --dry-run",
    "opengateway service install",
  );
  const common = (command: Command) =>
    command
      .addOption(
        new Option("--platform <platform>", "the service manager (default: this machine's)").choices([...SERVICE_PLATFORMS]),
      )
      .option("--dry-run", "print what would be written and run, change nothing", false)
      .option("--home <dir>", "the node's data directory", cli.defaultHome);
  common(
    withExample(
      service.command("install").description("a systemd user unit (Linux), a launchd agent (macOS) or a logon task (WSL2)"),
      "opengateway service install --dry-run --platform systemd",
    ),
  ).action((options: ServiceOptions) => serviceInstall(options, cli));
  common(
    withExample(service.command("uninstall").description("stop it starting by itself"), "opengateway service uninstall"),
  ).action((options: ServiceOptions) => serviceUninstall(options, cli));
  common(
    withExample(
      service.command("status").description("whether it is installed and running"),
      "opengateway service status --json",
    ),
  )
    .option("--json", "machine-readable output", false)
    .action((options: ServiceOptions & { json: boolean }) => serviceStatus(options, cli));
}
