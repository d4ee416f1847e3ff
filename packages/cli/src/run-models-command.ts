import { readdir, rm, stat } from "node:fs/promises";
import { basename, join, resolve } from "node:path";
import type { Command } from "commander";
import { readCliConfig } from "./cli-config.js";
import type { CliContext } from "./cli-context.js";
import { ModelUnavailableError } from "./cli-errors.js";
import { withExample } from "./help-example.js";

export interface ModelsOptions {
  home: string;
  json: boolean;
}

const modelsDir = (home: string) => join(home, "models");
const GB = 1e9;

/** `models list`: the GGUF files in the model cache, and which one the config serves. */
export async function modelsList(options: ModelsOptions): Promise<void> {
  const config = await readCliConfig(options.home);
  const names = await readdir(modelsDir(options.home)).catch(() => [] as string[]);
  const models = await Promise.all(
    names
      .filter((name) => name.endsWith(".gguf"))
      .sort()
      .map(async (name) => {
        const path = join(modelsDir(options.home), name);
        return { id: name.replace(/\.gguf$/, ""), path, bytes: (await stat(path)).size, serving: config.model === path };
      }),
  );
  if (options.json) {
    process.stdout.write(`${JSON.stringify(models)}\n`);
    return;
  }
  const lines = models.map(
    (model) => `  ${model.serving ? "*" : " "} ${model.id.padEnd(40)} ${(model.bytes / GB).toFixed(2)} GB  ${model.path}`,
  );
  process.stdout.write(
    lines.length > 0 ? `${lines.join("\n")}\n` : `  no models in ${modelsDir(options.home)}: opengateway models pull <model>\n`,
  );
}

/** `models pull <model>`: a catalog id, an hf: URI or a URL, downloaded into the cache with progress. */
export async function modelsPull(spec: string, options: ModelsOptions): Promise<void> {
  const { isRemoteModelUri, MODEL_CATALOG, resolveModel } = await import("@opengateway/full-node");
  const { downloadProgress } = await import("./progress-line.js");
  const uri = MODEL_CATALOG.find((model) => model.id === spec)?.uri ?? spec;
  if (!isRemoteModelUri(uri)) {
    throw new ModelUnavailableError(`'${spec}' is neither a model of 'opengateway models recommend' nor an hf: URI or URL.`);
  }
  const path = await resolveModel(uri, { cacheDir: modelsDir(options.home), onProgress: downloadProgress(uri) });
  process.stdout.write(
    options.json ? `${JSON.stringify({ path })}\n` : `${path}\n  serve it: opengateway config set model ${path}\n`,
  );
}

/** `models rm <id>`: deletes a cached model (not the one the config serves, unless --force). */
export async function modelsRemove(id: string, options: ModelsOptions & { force: boolean }): Promise<void> {
  const name = basename(id).endsWith(".gguf") ? basename(id) : `${basename(id)}.gguf`;
  const path = join(modelsDir(options.home), name);
  await stat(path).catch(() => {
    throw new ModelUnavailableError(
      `There is no ${name} in ${modelsDir(options.home)}: 'opengateway models list' shows what there is.`,
    );
  });
  const config = await readCliConfig(options.home);
  if (config.model !== undefined && resolve(config.model) === path && !options.force) {
    throw new ModelUnavailableError(
      `${name} is the model this node serves: choose another first (opengateway config set model ...), or pass --force.`,
    );
  }
  await rm(path);
  process.stdout.write(`removed ${path}\n`);
}

/** `models recommend`: what this machine can serve from the catalog, and the pick. */
export async function modelsRecommend(options: ModelsOptions & { gpu: "auto" | "off" }): Promise<void> {
  const { assessModels, probeHardware } = await import("@opengateway/full-node");
  const hardware = await probeHardware({ cacheDir: modelsDir(options.home), gpu: options.gpu === "off" ? false : "auto" });
  const { models, recommended } = assessModels(hardware);
  if (options.json) {
    process.stdout.write(
      `${JSON.stringify({
        hardware,
        recommended: recommended?.id ?? null,
        models: models.map((entry) => ({
          ...entry.model,
          cluster: entry.cluster,
          memoryBytes: entry.memoryBytes,
          fits: entry.fits,
          reason: entry.reason,
        })),
      })}\n`,
    );
    return;
  }
  for (const entry of models) {
    const mark = entry.model === recommended ? "→" : entry.fits ? " " : "✗";
    process.stdout.write(
      `  ${mark} ${entry.model.id.padEnd(36)} ${entry.model.summary}${entry.reason ? `  (${entry.reason})` : ""}\n`,
    );
  }
  if (recommended) process.stdout.write(`\n  opengateway models pull ${recommended.id}\n`);
}

/** `opengateway models list|pull|rm|recommend`. */
export function registerModelsCommand(program: Command, cli: CliContext): void {
  const models = withExample(
    program.command("models").description("the models in <home>/models, and which fit this machine"),
    "opengateway models recommend",
  );
  const common = (command: Command) =>
    command.option("--json", "machine-readable output", false).option("--home <dir>", "data directory", cli.defaultHome);
  common(
    withExample(models.command("list").description("the cached models (* = the one served)"), "opengateway models list"),
  ).action((options: ModelsOptions) => modelsList(options));
  common(
    withExample(
      models
        .command("pull")
        .argument("<model>", "a model id from 'models recommend', an hf: URI or a URL")
        .description("download a model with progress"),
      "opengateway models pull Qwen2.5-3B-Instruct-Q4_K_M",
      "opengateway models pull hf:bartowski/Llama-3.2-1B-Instruct-GGUF/Llama-3.2-1B-Instruct-Q4_K_M.gguf",
    ),
  ).action((spec: string, options: ModelsOptions) => modelsPull(spec, options));
  common(
    withExample(
      models
        .command("rm")
        .argument("<model>", "the model id (file name without .gguf)")
        .description("delete a cached model")
        .option("--force", "even the one the config serves", false),
      "opengateway models rm Llama-3.2-1B-Instruct-Q4_K_M",
    ),
  ).action((id: string, options: ModelsOptions & { force: boolean }) => modelsRemove(id, options));
  common(
    withExample(
      models
        .command("recommend")
        .description("what this machine's memory, GPU and disk can serve, and the pick")
        .option("--gpu <mode>", "auto or off", "auto"),
      "opengateway models recommend --json",
    ),
  ).action((options: ModelsOptions & { gpu: "auto" | "off" }) => modelsRecommend(options));
}
