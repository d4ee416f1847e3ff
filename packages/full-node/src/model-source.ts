import { access } from "node:fs/promises";
import { connect } from "node:net";
import { resolve } from "node:path";
import { errorClass } from "@opengateway/protocol";
import { resolveModelFile } from "node-llama-cpp";

/** A model a full node can serve: a local GGUF path, or a remote URI such as `hf:owner/repo:quant`. */
export function isRemoteModelUri(spec: string): boolean {
  return /^(hf:|huggingface:|https?:\/\/)/i.test(spec);
}

/** A model file that is neither on disk nor downloadable from here (a wrong path, or no way to its host). */
export class ModelNotAvailableError extends errorClass(
  "ModelNotAvailableError",
  "model_not_available",
  (message: string) => message,
) {}

export interface DownloadProgress {
  downloadedBytes: number;
  totalBytes: number;
}

export interface ResolveModelOptions {
  /** Where downloaded models are kept between runs. */
  cacheDir: string;
  /** Shows node-llama-cpp's download progress bar on the terminal (when no `onProgress` is given). */
  showProgress?: boolean;
  /** Called as a download proceeds; never for a model already on disk. */
  onProgress?: (progress: DownloadProgress) => void;
  /** How long the model's host may take to accept a connection before it counts as unreachable (default 5 s). */
  connectTimeoutMs?: number;
  signal?: AbortSignal;
}

/** Where a remote model comes from: Hugging Face for `hf:` URIs, else the URL's own host. */
function downloadHost(spec: string): { host: string; port: number } {
  if (/^https?:\/\//i.test(spec)) {
    const url = new URL(spec);
    return { host: url.hostname, port: Number(url.port) || (url.protocol === "https:" ? 443 : 80) };
  }
  return { host: "huggingface.co", port: 443 };
}

/** Whether a TCP connection to the host opens within the timeout. */
function reachable(target: { host: string; port: number }, timeoutMs: number): Promise<boolean> {
  return new Promise((done) => {
    const socket = connect(target);
    const finish = (ok: boolean) => {
      socket.destroy();
      done(ok);
    };
    socket.setTimeout(timeoutMs, () => finish(false));
    socket.once("connect", () => finish(true));
    socket.once("error", () => finish(false));
  });
}

/**
 * Turns a model spec into a local file path, downloading remote models into the cache
 * (resumable) the first time they are asked for. A model neither cached nor reachable fails at
 * once, not after a download's own timeouts.
 */
export async function resolveModel(spec: string, options: ResolveModelOptions): Promise<string> {
  if (isRemoteModelUri(spec)) {
    const cached = await resolveModelFile(spec, { directory: options.cacheDir, download: false, cli: false }).catch(
      () => undefined,
    );
    if (cached !== undefined) return cached;
    const host = downloadHost(spec);
    if (!(await reachable(host, options.connectTimeoutMs ?? 5_000))) {
      throw new ModelNotAvailableError(
        `The model ${spec} is not downloaded yet and ${host.host} cannot be reached: connect to the internet, or point OPENGATEWAY_MODEL (or --model) at a local .gguf file.`,
      );
    }
    const onProgress = options.onProgress;
    return resolveModelFile(spec, {
      directory: options.cacheDir,
      cli: onProgress === undefined && (options.showProgress ?? true),
      onProgress:
        onProgress && (({ totalSize, downloadedSize }) => onProgress({ downloadedBytes: downloadedSize, totalBytes: totalSize })),
      signal: options.signal,
    });
  }
  const path = resolve(spec);
  try {
    await access(path);
  } catch {
    throw new ModelNotAvailableError(
      `There is no model file at ${path}: pass an existing .gguf file, or an hf: URI to download one.`,
    );
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
