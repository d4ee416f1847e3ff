export * from "./hardware-profile.js";
export * from "./llama-cpp-engine.js";
export * from "./model-source.js";
export * from "./sequence-pool.js";
export * from "./start-full-node.js";
export * from "./throughput-meter.js";
