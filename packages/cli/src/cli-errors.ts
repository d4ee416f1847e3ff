import { errorClass } from "@opengateway/protocol";

/**
 * The CLI's own failures. Each message is one plain sentence that says what to do: the entry point
 * prints it as it is (the stack only with --verbose).
 */
export class InvalidConfigError extends errorClass("InvalidConfigError", "invalid_config", (message: string) => message) {}
export class PortInUseError extends errorClass(
  "PortInUseError",
  "port_in_use",
  (port: number, variable: string) =>
    `Port ${port} is already in use: stop what is using it, or choose another port with ${variable}=${port + 1}.`,
) {}
export class ModelUnavailableError extends errorClass(
  "ModelUnavailableError",
  "model_unavailable",
  (message: string) => message,
) {}
export class NotSetUpError extends errorClass("NotSetUpError", "not_set_up", (message: string) => message) {}
/** No peer of the network answered: the message names what was tried and how to give one. */
export class NetworkUnreachableError extends errorClass(
  "NetworkUnreachableError",
  "network_unreachable",
  (message: string) => message,
) {}
