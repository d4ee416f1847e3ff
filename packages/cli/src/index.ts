export * from "./network-process.js";
export * from "./process-ready.js";
export * from "./start-devnet.js";
export * from "./start-local-network.js";
