import { access } from "node:fs/promises";
import { resolve } from "node:path";
import { resolveModelFile } from "node-llama-cpp";

/** A model a full node can serve: a local GGUF path, or a remote URI such as `hf:owner/repo:quant`. */
export function isRemoteModelUri(spec: string): boolean {
  return /^(hf:|huggingface:|https?:\/\/)/i.test(spec);
}

export interface ResolveModelOptions {
  /** Where downloaded models are kept between runs. */
  cacheDir: string;
  /** Shows node-llama-cpp's download progress bar on the terminal. */
  showProgress?: boolean;
}

/**
 * Turns a model spec into a local file path, downloading remote models into the cache
 * (resumable, with a progress bar) the first time they are asked for.
 */
export async function resolveModel(spec: string, options: ResolveModelOptions): Promise<string> {
  if (isRemoteModelUri(spec)) {
    return resolveModelFile(spec, { directory: options.cacheDir, cli: options.showProgress ?? true });
  }
  const path = resolve(spec);
  try {
    await access(path);
  } catch {
    throw new Error(`model file '${path}' does not exist`);
  }
  return path;
}

/** The model id a file is served under: its name without `.gguf`. */
export function modelIdFromSpec(spec: string): string {
  const last =
    spec
      .split(/[/\\:]/)
      .filter(Boolean)
      .at(-1) ?? spec;
  return last.replace(/\.gguf$/i, "");
}
