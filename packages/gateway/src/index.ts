export * from "./api-key-accounts.js";
export * from "./contribute-routes.js";
export * from "./create-gateway-app.js";
export * from "./start-contribute-server.js";
export * from "./start-gateway.js";
