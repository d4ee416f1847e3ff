// The router, its provider table and network watcher live in p2p (a browser tab routes its chat
// with them too); the SDK's public API keeps offering them.
export type {
  CandidateFilter,
  InferenceRouterOptions,
  NetworkWatcherOptions,
  PaymentHooks,
  ProviderEntry,
  RouteRequest,
  RouterEvent,
  ServedModelView,
} from "@opengateway/p2p";
export {
  capacityOf,
  DEFAULT_PROVIDER_IDLE_TIMEOUT_MS,
  InferenceRouter,
  NetworkWatcher,
  ProviderTable,
  resumePayload,
} from "@opengateway/p2p";
export type { Identity } from "@opengateway/protocol";
// What an app needs beside createClient, so that it depends on this package alone.
export { generateIdentity, identityFromSeed, maxCreditsFor, OpenGatewayError } from "@opengateway/protocol";
export * from "./chat-completion-request.js";
export * from "./completion-request.js";
export * from "./create-client.js";
export * from "./embedding-request.js";
export * from "./identity-file.js";
export * from "./ledger-wallet.js";
export type { OpenAICallContext } from "./openai-endpoint.js";
export * from "./openai-error.js";
export * from "./openai-handler.js";
export * from "./p2p-fetch.js";
export * from "./reach-network.js";
export * from "./request-validation.js";
export * from "./response-store.js";
export * from "./responses-request.js";
