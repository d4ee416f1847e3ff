import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  ModelNotFoundError,
  NoProviderError,
  OpenGatewayError,
  OverloadedError,
  ProtocolViolationError,
} from "@opengateway/protocol";
import { OpenAIHttpError, toOpenAIHttpError } from "./openai-error.js";

describe("toOpenAIHttpError", () => {
  it("maps protocol failures to OpenAI statuses and types", () => {
    const cases: Array<[Error, number, string]> = [
      [new ModelNotFoundError("gone"), 404, "invalid_request_error"],
      [new NoProviderError("none"), 503, "server_error"],
      [new OverloadedError(), 429, "rate_limit_error"],
      [new ProtocolViolationError("bad peer"), 502, "server_error"],
    ];
    for (const [error, status, type] of cases) {
      const mapped = toOpenAIHttpError(error);
      assert.equal(mapped.status, status);
      assert.equal(mapped.type, type);
    }
    assert.equal(toOpenAIHttpError(new NoProviderError("none")).headers["retry-after"], "1");
  });

  it("hides the internals of unexpected failures", () => {
    const mapped = toOpenAIHttpError(new Error("secret stack detail"));
    assert.equal(mapped.status, 500);
    assert.ok(!mapped.message.includes("secret"));
  });

  it("serialises to exactly OpenAI's error shape", () => {
    assert.deepEqual(new OpenAIHttpError(400, "bad", { param: "model" }).toJSON(), {
      error: { message: "bad", type: "invalid_request_error", param: "model", code: null },
    });
    const coded = new OpenAIHttpError(401, "no key", { code: "missing_api_key" });
    assert.ok(OpenGatewayError.isInstance(coded) && coded.code === "missing_api_key" && coded.name === "OpenAIHttpError");
    assert.equal(new OpenAIHttpError(400, "bad").code, "invalid_request_error");
  });
});
