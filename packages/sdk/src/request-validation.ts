import type { z } from "zod";
import { OpenAIHttpError } from "./openai-error.js";

/** The first schema issue as OpenAI words it: a 400 naming the parameter. */
export function zodToOpenAIError(error: z.ZodError): OpenAIHttpError {
  const issue = specificIssue(error.issues[0]);
  const param = issue && issue.path.length > 0 ? issue.path.join(".") : null;
  const message = issue ? `${param ?? "body"}: ${issue.message}` : "invalid request";
  return new OpenAIHttpError(400, message, { param, code: "invalid_value" });
}

/**
 * A union (`stop`: a string or an array) fails as a vague "Invalid input"; when exactly one
 * branch has the value's type, its own complaint ("at most 4 …") is the one to report.
 */
function specificIssue(issue: z.core.$ZodIssue | undefined): z.core.$ZodIssue | undefined {
  if (issue?.code !== "invalid_union") return issue;
  const typed = issue.errors.filter(
    (branch) => !(branch.length === 1 && branch[0]?.code === "invalid_type" && branch[0].path.length === 0),
  );
  const inner = typed.length === 1 ? typed[0]?.[0] : undefined;
  return inner ? { ...inner, path: [...issue.path, ...inner.path] } : issue;
}

export function requireJsonObject(raw: unknown): Record<string, unknown> {
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
    throw new OpenAIHttpError(400, "the request body must be a JSON object");
  }
  return raw as Record<string, unknown>;
}

/**
 * OpenAI answers an unknown parameter with a 400 rather than ignoring it; so do we, and a known
 * parameter that this release cannot honour is refused by name with the reason.
 */
export function checkParameters(
  body: Record<string, unknown>,
  known: ReadonlySet<string>,
  unsupported: Readonly<Record<string, { when: (value: unknown) => boolean; reason: string }>>,
): void {
  for (const [name, value] of Object.entries(body)) {
    // Own entries only: a parameter named `constructor` or `toString` is unknown, not Object's member.
    const rule = Object.hasOwn(unsupported, name) ? unsupported[name] : undefined;
    if (rule?.when(value)) {
      throw new OpenAIHttpError(400, `'${name}' is not supported: ${rule.reason}`, {
        param: name,
        code: "unsupported_parameter",
      });
    }
    if (!known.has(name) && rule === undefined) {
      throw new OpenAIHttpError(400, `Unrecognized request argument supplied: ${name}`, {
        param: name,
        code: "unknown_parameter",
      });
    }
  }
}

export function parseWith<T>(schema: z.ZodType<T>, value: unknown): T {
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw zodToOpenAIError(parsed.error);
  return parsed.data;
}

export function randomSeed(): number {
  return globalThis.crypto.getRandomValues(new Uint32Array(1))[0] ?? 0;
}

export const isPresent = (value: unknown): boolean => value !== undefined && value !== null && value !== false;
