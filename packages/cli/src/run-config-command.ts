import type { Command } from "commander";
import {
  assertConfigKey,
  CONFIG_FILE,
  CONFIG_KEYS,
  configPath,
  parseConfigValue,
  readCliConfig,
  writeCliConfig,
} from "./cli-config.js";
import type { CliContext } from "./cli-context.js";
import { withExample } from "./help-example.js";

export interface ConfigCommandOptions {
  home: string;
  json: boolean;
}

const show = (value: unknown): string => (typeof value === "string" ? value : JSON.stringify(value));

/** `config path`: where the file is (whether or not it exists yet). */
export function configPathCommand(options: ConfigCommandOptions): void {
  process.stdout.write(`${configPath(options.home)}\n`);
}

/** `config list`: every setting the file holds. */
export async function configList(options: ConfigCommandOptions): Promise<void> {
  const config = await readCliConfig(options.home);
  if (options.json) {
    process.stdout.write(`${JSON.stringify(config)}\n`);
    return;
  }
  const lines = Object.entries(config).map(([key, value]) => `${key} = ${show(value)}`);
  process.stdout.write(lines.length > 0 ? `${lines.join("\n")}\n` : `(no settings in ${configPath(options.home)})\n`);
}

/** `config get <key>`: the value, or nothing (exit 1) when it is not set. */
export async function configGet(key: string, options: ConfigCommandOptions): Promise<void> {
  const value = (await readCliConfig(options.home))[assertConfigKey(key)];
  if (value === undefined) {
    process.exitCode = 1;
    return;
  }
  process.stdout.write(`${options.json ? JSON.stringify(value) : show(value)}\n`);
}

/** `config set <key> <value>`: validated before anything is written. */
export async function configSet(key: string, text: string, options: ConfigCommandOptions): Promise<void> {
  const value = parseConfigValue(key, text);
  const config = await readCliConfig(options.home);
  const path = await writeCliConfig(options.home, { ...config, [key]: value });
  process.stdout.write(`${key} = ${show(value)}  (${path})\n`);
}

/** `config unset <key>`: back to the default. */
export async function configUnset(key: string, options: ConfigCommandOptions): Promise<void> {
  const config = await readCliConfig(options.home);
  delete config[assertConfigKey(key)];
  await writeCliConfig(options.home, config);
}

/** `opengateway config get|set|unset|list|path`. */
export function registerConfigCommand(program: Command, cli: CliContext): void {
  const config = withExample(
    program.command("config").description(`the settings every command reads (<home>/${CONFIG_FILE}); flags and environment win`),
    "opengateway config set region europe",
    "opengateway config list",
  );
  const withHome = (command: Command) =>
    command.option("--home <dir>", "data directory", cli.defaultHome).option("--json", "machine-readable output", false);
  withHome(withExample(config.command("path").description("print where the config file is"), "opengateway config path")).action(
    (options) => configPathCommand(options),
  );
  withHome(
    withExample(config.command("list").description("print every setting in the file"), "opengateway config list --json"),
  ).action((options) => configList(options));
  withHome(
    withExample(
      config
        .command("get")
        .argument("<key>", `one of: ${CONFIG_KEYS.join(", ")}`)
        .description("print one setting"),
      "opengateway config get model",
    ),
  ).action((key: string, options) => configGet(key, options));
  withHome(
    withExample(
      config
        .command("set")
        .argument("<key>", "the setting")
        .argument("<value>", "its value (JSON, or text; lists as a,b,c)")
        .description("change one setting (checked before it is written)"),
      "opengateway config set bootstrap /dns4/relay.example.org/tcp/4001/p2p/12D3KooW...",
      "opengateway config set parallel 2",
    ),
  ).action((key: string, value: string, options) => configSet(key, value, options));
  withHome(
    withExample(
      config.command("unset").argument("<key>", "the setting").description("remove one setting"),
      "opengateway config unset region",
    ),
  ).action((key: string, options) => configUnset(key, options));
}
