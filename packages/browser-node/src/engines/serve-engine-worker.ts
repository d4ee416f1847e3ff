/**
 * The worker side of the engine boundary: answers WorkerEngine's messages over `scope` with the
 * engine `loadEngine` makes. Streaming is pull-based: each `next` gets exactly one event back, so
 * a slow or departed consumer never has tokens piling up here, and `cancel` (the consumer left
 * its loop) stops generation at once. engine-worker.ts runs it in the Web Worker; tests run it
 * in-process with a fake engine.
 */
import type { EmbeddingEvent, GenerationEvent, InferenceEngine } from "@opengateway/protocol";
import { CancelledError } from "@opengateway/protocol";
import type { EngineLoadSpec, RemoteError, WorkerGeneration, WorkerRequest, WorkerResponse } from "./engine-worker-protocol.js";

export interface WorkerScope {
  postMessage(message: WorkerResponse): void;
  addEventListener(type: "message", listener: (event: MessageEvent<WorkerRequest>) => void): void;
  close(): void;
}

export type EngineLoader = (
  spec: EngineLoadSpec,
  onProgress: (progress: { loaded: number; total: number }) => void,
) => Promise<InferenceEngine>;

interface Run {
  iterator: AsyncIterator<GenerationEvent | EmbeddingEvent>;
  controller: AbortController;
}

export function serveEngineWorker(scope: WorkerScope, loadEngine: EngineLoader): void {
  const runs = new Map<number, Run>();
  let engine: InferenceEngine | undefined;

  scope.addEventListener("message", (event) => {
    const message = event.data;
    switch (message.type) {
      case "load":
        void load(message.spec);
        break;
      case "generate":
        start(message.id, message);
        break;
      case "next":
        void next(message.id);
        break;
      case "cancel":
        void cancel(message.id);
        break;
      case "close":
        void close();
        break;
    }
  });

  async function load(spec: EngineLoadSpec): Promise<void> {
    try {
      engine = await loadEngine(spec, (progress) =>
        scope.postMessage({ type: "progress", loaded: progress.loaded, total: progress.total }),
      );
      scope.postMessage({ type: "loaded", engine: engine.name, models: engine.listModels().map((model) => ({ ...model })) });
    } catch (error) {
      scope.postMessage({ type: "load-failed", error: toRemoteError(error) });
    }
  }

  function start(id: number, generation: WorkerGeneration & { maxTotalTokens?: number }): void {
    const controller = new AbortController();
    if (engine === undefined) {
      runs.set(id, { iterator: failing(new Error("no engine is loaded")), controller });
      return;
    }
    const options = { signal: controller.signal, maxTotalTokens: generation.maxTotalTokens };
    const iterable =
      generation.kind === "chat"
        ? engine.generateChat(generation.request, options)
        : generation.kind === "completion"
          ? engine.generateCompletion(generation.request, options)
          : engine.embed(generation.request, options);
    runs.set(id, { iterator: iterable[Symbol.asyncIterator](), controller });
  }

  async function next(id: number): Promise<void> {
    const run = runs.get(id);
    if (run === undefined) {
      scope.postMessage({
        type: "error",
        id,
        error: { name: "CancelledError", code: "cancelled", message: "unknown generation" },
      });
      return;
    }
    try {
      const result = await run.iterator.next();
      if (result.done) {
        runs.delete(id);
        scope.postMessage({ type: "end", id });
      } else {
        scope.postMessage({ type: "event", id, event: result.value });
      }
    } catch (error) {
      runs.delete(id);
      scope.postMessage({ type: "error", id, error: toRemoteError(error) });
    }
  }

  async function cancel(id: number): Promise<void> {
    const run = runs.get(id);
    if (run === undefined) return;
    runs.delete(id);
    run.controller.abort(new CancelledError("the consumer stopped reading"));
    await run.iterator.return?.().catch(() => {});
  }

  async function close(): Promise<void> {
    await Promise.all([...runs.keys()].map((id) => cancel(id)));
    await engine?.close().catch(() => {});
    engine = undefined;
    scope.postMessage({ type: "closed" });
    scope.close();
  }
}

// biome-ignore lint/correctness/useYield: fails on the first pull, like an engine refusing a request.
async function* failing(error: Error): AsyncGenerator<never, void, undefined> {
  throw error;
}

function toRemoteError(error: unknown): RemoteError {
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    return { name: error.name, message: error.message, ...(typeof code === "string" ? { code } : {}) };
  }
  return { name: "Error", message: String(error) };
}
