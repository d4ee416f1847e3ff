import type { WorkerRequest, WorkerResponse } from "../engines/engine-worker-protocol.js";
import type { EngineLoader } from "../engines/serve-engine-worker.js";
import { serveEngineWorker } from "../engines/serve-engine-worker.js";
import type { WorkerLike } from "../engines/worker-engine.js";

/**
 * The engine worker without a Web Worker (Node has none): the worker's own message handling,
 * serving `loadEngine`'s engine, joined to WorkerEngine by a MessageChannel, so every message is
 * structured-cloned and delivered asynchronously as between threads.
 */
export function inProcessWorker(loadEngine: EngineLoader): WorkerLike {
  const { port1: page, port2: worker } = new MessageChannel();
  serveEngineWorker(
    {
      postMessage: (message: WorkerResponse) => worker.postMessage(message),
      addEventListener: (_type: "message", listener: (event: MessageEvent<WorkerRequest>) => void) =>
        worker.addEventListener("message", listener),
      close: () => worker.close(),
    },
    loadEngine,
  );
  worker.start();
  page.start();
  return new (class implements WorkerLike {
    postMessage(message: WorkerRequest): void {
      page.postMessage(message);
    }
    addEventListener(type: "message", listener: (event: MessageEvent<WorkerResponse>) => void): void;
    addEventListener(type: "error", listener: (event: ErrorEvent) => void): void;
    addEventListener(
      type: "message" | "error",
      listener: ((event: MessageEvent<WorkerResponse>) => void) | ((event: ErrorEvent) => void),
    ): void {
      // A port has no error events; a thread's crash has no in-process equivalent.
      if (type === "message") page.addEventListener("message", listener as (event: MessageEvent<WorkerResponse>) => void);
    }
    terminate(): void {
      page.close();
      worker.close();
    }
  })();
}
