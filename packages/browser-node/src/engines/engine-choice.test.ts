import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { DeviceProbe } from "./engine-choice.js";
import { chooseEngine, probeDevice } from "./engine-choice.js";
import type { ModelOffer } from "./model-offer.js";

const GIB = 1024 ** 3;

const swiftShader: DeviceProbe = {
  webgpu: {
    isFallbackAdapter: true,
    features: ["subgroups", "timestamp-query"],
    maxBufferSize: GIB,
    maxStorageBufferBindingSize: 128 * 1024 ** 2,
    vendor: "google",
    architecture: "swiftshader",
  },
  deviceMemoryBytes: 8 * GIB,
  hardwareConcurrency: 2,
  crossOriginIsolated: false,
};

const realGpu: DeviceProbe = {
  ...swiftShader,
  webgpu: {
    isFallbackAdapter: false,
    features: ["shader-f16", "subgroups"],
    maxBufferSize: 4 * GIB,
    maxStorageBufferBindingSize: 2 * GIB,
    vendor: "nvidia",
    architecture: "ada",
  },
};

const tiny: ModelOffer = {
  id: "tiny",
  url: "/models/tiny.gguf",
  sizeBytes: 1_200_000,
  webllm: {
    record: {
      model: "https://models.example/tiny-MLC",
      model_id: "Tiny-q4f16_1-MLC",
      model_lib: "https://models.example/tiny-webgpu.wasm",
      required_features: ["shader-f16"],
      vram_required_MB: 300,
    },
  },
};

describe("engine choice", () => {
  it("picks wllama on a software fallback adapter, even with WebLLM artifacts configured", () => {
    const decision = chooseEngine(swiftShader, [tiny]);
    assert.equal(decision.serve, true);
    assert.equal(decision.serve && decision.engine, "wllama");
    assert.match(decision.verdicts[0]?.reason ?? "", /software fallback/);
    assert.deepEqual(decision.serve && decision.clusters, ["A"]);
    assert.equal(decision.serve && decision.threads, 1);
  });

  it("picks WebLLM on a real adapter with the model's required features", () => {
    const decision = chooseEngine(realGpu, [tiny]);
    assert.equal(decision.serve && decision.engine, "webllm");
  });

  it("falls back to wllama when the real adapter lacks a required feature or no artifacts exist", () => {
    const noF16: DeviceProbe = { ...realGpu, webgpu: realGpu.webgpu && { ...realGpu.webgpu, features: ["subgroups"] } };
    const lacking = chooseEngine(noF16, [tiny]);
    assert.equal(lacking.serve && lacking.engine, "wllama");
    assert.match(lacking.verdicts[0]?.reason ?? "", /lacks shader-f16/);
    const { webllm: _artifacts, ...ggufOnly } = tiny;
    const plain = chooseEngine(realGpu, [ggufOnly]);
    assert.equal(plain.serve && plain.engine, "wllama");
    assert.match(plain.verdicts[0]?.reason ?? "", /no WebLLM artifacts configured/);
  });

  it("skips models that do not fit the device's memory, or whose size is unknown, and serves the next one", () => {
    const big: ModelOffer = { id: "big", url: "/big.gguf", sizeBytes: 1.9 * GIB };
    const unknown: ModelOffer = { id: "unknown", url: "/unknown.gguf" };
    const decision = chooseEngine({ ...swiftShader, deviceMemoryBytes: 4 * GIB }, [big, unknown, { ...tiny, webllm: undefined }]);
    assert.equal(decision.serve && decision.offer.id, "tiny");
    assert.match(decision.verdicts[0]?.reason ?? "", /needs about \d+ MiB, this tab may use 1024 MiB/);
    assert.match(decision.verdicts[1]?.reason ?? "", /size is unknown/);
    const none = chooseEngine(swiftShader, []);
    assert.deepEqual(none, { serve: false, reason: "no models are configured", verdicts: [] });
  });

  it("uses WebAssembly threads only when the page is cross-origin isolated", () => {
    const decision = chooseEngine({ ...swiftShader, crossOriginIsolated: true, hardwareConcurrency: 8 }, [tiny]);
    assert.equal(decision.serve && decision.threads, 4);
  });

  it("probes the browser's adapter, memory and threading rather than assuming them", async () => {
    const probe = await probeDevice({
      crossOriginIsolated: false,
      navigator: {
        deviceMemory: 8,
        hardwareConcurrency: 2,
        gpu: {
          requestAdapter: async () =>
            ({
              features: new Set(["subgroups"]),
              limits: { maxBufferSize: GIB, maxStorageBufferBindingSize: 128 * 1024 ** 2 },
              info: { isFallbackAdapter: true, vendor: "google", architecture: "swiftshader" },
            }) as unknown as GPUAdapter,
        },
      },
    });
    assert.deepEqual(probe, { ...swiftShader, webgpu: swiftShader.webgpu && { ...swiftShader.webgpu, features: ["subgroups"] } });
    const without = await probeDevice({ navigator: { hardwareConcurrency: 4 }, crossOriginIsolated: false });
    assert.deepEqual(without, { webgpu: null, deviceMemoryBytes: null, hardwareConcurrency: 4, crossOriginIsolated: false });
  });
});
