import type { InferenceRouter, ServedModelView } from "@opengateway/p2p";
import type { InferenceKind } from "@opengateway/protocol";
import type { Model } from "openai/resources";
import type { OpenAICall, OpenAIResult } from "./openai-endpoint.js";
import { jsonResult } from "./openai-endpoint.js";
import { OpenAIHttpError } from "./openai-error.js";

const OWNER = "opengateway";

/** `GET /v1/models`: every model some reachable provider serves. */
export function listModels(call: OpenAICall): OpenAIResult {
  const data = call.router.table.models().map((model) => toModel(model.id, call.created));
  return jsonResult({ object: "list", data } satisfies { object: "list"; data: Model[] });
}

/** `GET /v1/models/{id}`. */
export function retrieveModel(id: string, call: OpenAICall): OpenAIResult {
  const model = call.router.table.models().find((candidate) => candidate.id === id);
  if (model === undefined) throw modelNotFound(id);
  return jsonResult(toModel(model.id, call.created));
}

/**
 * The served model a request body names, looked up before the body is validated (its context
 * size bounds `max_tokens`); `requireServes` then refuses a model nobody serves for this kind.
 */
export function servedModel(router: InferenceRouter, raw: unknown): ServedModelView | undefined {
  const model = typeof raw === "object" && raw !== null ? (raw as { model?: unknown }).model : undefined;
  return typeof model === "string" ? router.table.models().find((candidate) => candidate.id === model) : undefined;
}

export function requireServes(
  router: InferenceRouter,
  served: ServedModelView | undefined,
  model: string,
  kind: InferenceKind,
): void {
  // With no provider reachable at all, nobody can say the model does not exist: that is a 503.
  if (served === undefined && router.table.size === 0) {
    throw new OpenAIHttpError(503, "No provider is reachable right now; try again shortly", {
      code: "no_provider",
      headers: { "retry-after": "1" },
    });
  }
  if (served === undefined) throw modelNotFound(model);
  if (!served.kinds.includes(kind)) {
    throw new OpenAIHttpError(400, `The model '${model}' does not support ${kind} requests on this network`, {
      param: "model",
      code: "model_not_supported",
    });
  }
}

function toModel(id: string, created: number): Model {
  return { id, object: "model", created, owned_by: OWNER };
}

function modelNotFound(id: string): OpenAIHttpError {
  return new OpenAIHttpError(404, `The model '${id}' does not exist or is not served by the network right now`, {
    param: "model",
    code: "model_not_found",
  });
}
