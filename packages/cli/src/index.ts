export * from "./process-ready.js";
export * from "./start-local-network.js";
