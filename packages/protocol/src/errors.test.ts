import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  CancelledError,
  EngineFailedError,
  ERROR_CODES,
  errorClass,
  errorFromCode,
  errorMessage,
  InsufficientCreditsError,
  InvalidSignatureError,
  OpenGatewayError,
  WireError,
} from "./errors.js";

describe("errors", () => {
  it("rebuilds every wire code into its own class, with the code and the message", () => {
    for (const code of ERROR_CODES) {
      const error = errorFromCode(code, `remote says ${code}`);
      assert.ok(error instanceof WireError && error instanceof OpenGatewayError);
      assert.equal(error.code, code);
      assert.equal(error.message, `remote says ${code}`);
      assert.notEqual(error.name, "WireError", `${code} has a class of its own`);
    }
    assert.ok(errorFromCode("insufficient_credits", "poor") instanceof InsufficientCreditsError);
  });

  it("names each class on its prototype, so the name survives minifying", () => {
    const error = new InvalidSignatureError();
    assert.equal(error.name, "InvalidSignatureError");
    assert.equal(error.message, "signature does not verify");
    assert.match(String(error.stack), /^InvalidSignatureError: signature does not verify/);
    const cause = new Error("disk");
    assert.equal(new EngineFailedError("failed", { cause }).cause, cause);
  });

  it("declares classes under the root with errorClass", () => {
    class TooBigError extends errorClass("TooBigError", "too_big", (size: number) => `${size} is too big`) {}
    const error = new TooBigError(7);
    assert.ok(error instanceof OpenGatewayError && error instanceof TooBigError);
    assert.deepEqual([error.name, error.code, error.message], ["TooBigError", "too_big", "7 is too big"]);
    assert.ok(TooBigError.isInstance(error) && OpenGatewayError.isInstance(error) && !WireError.isInstance(error));
  });

  it("recognises errors built by another copy of the package, where instanceof does not", async () => {
    const copy = (await import(`./errors.js?copy=${Date.now()}`)) as typeof import("./errors.js");
    assert.notEqual(copy.CancelledError, CancelledError);
    const foreign = new copy.CancelledError();
    assert.ok(!(foreign instanceof CancelledError));
    assert.ok(CancelledError.isInstance(foreign));
    assert.ok(WireError.isInstance(foreign) && OpenGatewayError.isInstance(foreign));
    assert.ok(!InvalidSignatureError.isInstance(foreign));
    assert.ok(!OpenGatewayError.isInstance(new Error("plain")));
    for (const value of [null, undefined, "cancelled", 3, { name: "CancelledError", code: "cancelled" }]) {
      assert.ok(!OpenGatewayError.isInstance(value));
    }
  });

  it("gives the message of anything thrown", () => {
    assert.equal(errorMessage(new CancelledError("gone")), "gone");
    assert.equal(errorMessage("text"), "text");
    assert.equal(errorMessage(42), "42");
  });
});
