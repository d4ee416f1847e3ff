import { describeInferenceEngineContract } from "@opengateway/protocol/test-support/inference-engine-contract";
import { engineWithFake } from "../test-support/fake-mlc-engine.js";
import { inProcessWorker } from "../test-support/in-process-worker.js";
import type { EngineLoadSpec } from "./engine-worker-protocol.js";
import { ThrottledEngine } from "./throttled-engine.js";
import { WorkerEngine } from "./worker-engine.js";

/** The in-process worker serves the fake whatever the spec names. */
const spec: EngineLoadSpec = {
  engine: "wllama",
  modelId: "tiny",
  modelUrl: "unused",
  wasmUrl: "unused",
  threads: 1,
  parallelRequests: 1,
};
const startWorkerEngine = () => WorkerEngine.start({ spec, worker: inProcessWorker(async () => engineWithFake().engine) });

describeInferenceEngineContract(
  "WorkerEngine across the engine worker's message protocol (WebLlmEngine over FakeMlcEngine)",
  () => startWorkerEngine(),
);

describeInferenceEngineContract(
  "ThrottledEngine over WorkerEngine, as a tab runs them (WebLlmEngine over FakeMlcEngine)",
  async () => new ThrottledEngine(await startWorkerEngine(), { maxConcurrentRequests: 2 }),
);
