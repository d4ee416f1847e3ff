export * from "./api-key-accounts.js";
export * from "./create-gateway-app.js";
export * from "./start-gateway.js";
