// Node only: serving the contributor page (`@opengateway/browser-node/server`).
export * from "./contribute-page.js";
export * from "./start-contribute-server.js";
