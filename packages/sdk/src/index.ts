export * from "./chat-completion-request.js";
export * from "./inference-router.js";
export * from "./network-watcher.js";
export * from "./openai-api.js";
export * from "./openai-error.js";
export * from "./provider-table.js";
