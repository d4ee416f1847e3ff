import type * as Engine from "@opengateway/protocol";
import { CancelledError, EngineFailedError, errorFromCode, isErrorCode } from "@opengateway/protocol";
import type { EngineLoadSpec, RemoteError, WorkerGeneration, WorkerRequest, WorkerResponse } from "./engine-worker-protocol.js";

export interface WorkerLike {
  postMessage(message: WorkerRequest): void;
  addEventListener(type: "message", listener: (event: MessageEvent<WorkerResponse>) => void): void;
  addEventListener(type: "error", listener: (event: ErrorEvent) => void): void;
  terminate(): void;
}

export interface StartWorkerEngineOptions {
  spec: EngineLoadSpec;
  /** Defaults to this package's engine worker; pass one where a bundler needs another way to start it. */
  worker?: WorkerLike;
  onProgress?: (progress: { loaded: number; total: number }) => void;
  signal?: AbortSignal;
}

type Reply = Extract<WorkerResponse, { type: "event" | "end" | "error" }>;

/** Where a pull waits for the worker's one answer. */
interface PendingPull {
  resolve: (reply: Reply) => void;
  reject: (error: Error) => void;
}

/** The engine worker, started the way bundlers (Vite, webpack, Parcel) recognise and bundle. */
export function createEngineWorker(): WorkerLike {
  return new Worker(new URL("./engine-worker.js", import.meta.url), { type: "module", name: "opengateway-engine" });
}

/**
 * The main thread's view of an engine running in a Web Worker. Each event is pulled: the
 * consumer's iteration sends `next` and waits for one event; leaving the loop (or aborting)
 * sends `cancel`, which stops generation in the worker.
 */
export class WorkerEngine implements Engine.InferenceEngine {
  readonly name: string;
  readonly #worker: WorkerLike;
  readonly #models: readonly Engine.ServedModel[];
  readonly #pending = new Map<number, PendingPull>();
  #nextId = 1;
  #failure: Error | undefined;

  private constructor(worker: WorkerLike, name: string, models: readonly Engine.ServedModel[]) {
    this.#worker = worker;
    this.name = name;
    this.#models = models;
    worker.addEventListener("message", (event) => this.#onMessage(event.data));
    worker.addEventListener("error", (event) => this.#fail(new EngineFailedError(`the engine worker failed: ${event.message}`)));
  }

  static async start(options: StartWorkerEngineOptions): Promise<WorkerEngine> {
    const worker = options.worker ?? createEngineWorker();
    try {
      const loaded = await new Promise<Extract<WorkerResponse, { type: "loaded" }>>((resolve, reject) => {
        const onAbort = (): void => reject(options.signal?.reason ?? new CancelledError("loading was cancelled"));
        options.signal?.addEventListener("abort", onAbort, { once: true });
        worker.addEventListener("message", (event) => {
          const message = event.data;
          if (message.type === "progress") options.onProgress?.({ loaded: message.loaded, total: message.total });
          else if (message.type === "loaded") resolve(message);
          else if (message.type === "load-failed") reject(fromRemoteError(message.error));
        });
        worker.addEventListener("error", (event) => reject(new EngineFailedError(`the engine worker failed: ${event.message}`)));
        worker.postMessage({ type: "load", spec: options.spec });
      });
      return new WorkerEngine(worker, loaded.engine, loaded.models);
    } catch (error) {
      worker.terminate();
      throw error;
    }
  }

  listModels(): readonly Engine.ServedModel[] {
    return this.#models;
  }

  generateChat(request: Engine.ChatGeneration, options: Engine.GenerateOptions = {}): Engine.GenerationStream {
    return this.#stream<Engine.GenerationEvent>({ kind: "chat", request }, options);
  }

  generateCompletion(request: Engine.CompletionGeneration, options: Engine.GenerateOptions = {}): Engine.GenerationStream {
    return this.#stream<Engine.GenerationEvent>({ kind: "completion", request }, options);
  }

  embed(request: Engine.EmbeddingGeneration, options: Engine.GenerateOptions = {}): Engine.EmbeddingStream {
    return this.#stream<Engine.EmbeddingEvent>({ kind: "embedding", request }, options);
  }

  async close(): Promise<void> {
    if (this.#failure === undefined) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 2_000);
        this.#worker.addEventListener("message", (event) => {
          if (event.data.type === "closed") {
            clearTimeout(timer);
            resolve();
          }
        });
        this.#worker.postMessage({ type: "close" });
      });
    }
    this.#fail(new CancelledError("the engine was closed"));
    this.#worker.terminate();
  }

  async *#stream<T extends Engine.GenerationEvent | Engine.EmbeddingEvent>(
    generation: WorkerGeneration,
    options: Engine.GenerateOptions,
  ): AsyncGenerator<T, void, undefined> {
    options.signal?.throwIfAborted();
    if (this.#failure) throw this.#failure;
    const id = this.#nextId++;
    this.#worker.postMessage({ type: "generate", id, maxTotalTokens: options.maxTotalTokens, ...generation });
    let ended = false;
    try {
      while (true) {
        const reply = await this.#pull(id, options.signal);
        if (reply.type === "end") {
          ended = true;
          return;
        }
        if (reply.type === "error") {
          ended = true;
          throw fromRemoteError(reply.error);
        }
        yield reply.event as T;
      }
    } finally {
      // Left early, aborted, or the worker failed: generation stops in the worker too.
      if (!ended && this.#failure === undefined) this.#worker.postMessage({ type: "cancel", id });
      this.#pending.delete(id);
    }
  }

  #pull(id: number, signal: AbortSignal | undefined): Promise<Reply> {
    return new Promise<Reply>((resolve, reject) => {
      if (signal?.aborted) {
        reject(signal.reason ?? new CancelledError());
        return;
      }
      const onAbort = (): void => {
        this.#pending.delete(id);
        reject(signal?.reason ?? new CancelledError());
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      this.#pending.set(id, {
        resolve: (reply) => {
          signal?.removeEventListener("abort", onAbort);
          resolve(reply);
        },
        reject: (error) => {
          signal?.removeEventListener("abort", onAbort);
          reject(error);
        },
      });
      this.#worker.postMessage({ type: "next", id });
    });
  }

  #onMessage(message: WorkerResponse): void {
    if (message.type !== "event" && message.type !== "end" && message.type !== "error") return;
    const pending = this.#pending.get(message.id);
    this.#pending.delete(message.id);
    pending?.resolve(message);
  }

  #fail(error: Error): void {
    this.#failure ??= error;
    for (const pending of this.#pending.values()) pending.reject(error);
    this.#pending.clear();
  }
}

/** Rebuilds the protocol's typed error from what crossed the worker boundary. */
function fromRemoteError(error: RemoteError): Error {
  if (error.code !== undefined && isErrorCode(error.code)) return errorFromCode(error.code, error.message);
  if (error.name === "AbortError") return new CancelledError(error.message);
  return new EngineFailedError(error.message);
}
