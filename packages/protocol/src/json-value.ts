import { z } from "zod";

export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

/** How deep a JSON value (e.g. a JSON Schema) may nest before anything recursive looks at it. */
export const MAX_JSON_DEPTH = 64;

/**
 * Any JSON value, bounded in depth so hostile input cannot exhaust the stack. Checked without
 * recursion and passed through as the same object: rebuilding it would drop an own property named
 * `__proto__` (a legal JSON Schema property name), so the gateway and the node would sign and
 * verify different bytes.
 */
export const jsonValueSchema: z.ZodType<JsonValue> = z.custom<JsonValue>(
  (value) => isJsonValue(value, MAX_JSON_DEPTH),
  `not a JSON value, or nested deeper than ${MAX_JSON_DEPTH}`,
);

/** Whether a value is plain JSON (finite numbers, arrays, plain objects) nested at most `limit` deep; iterative. */
export function isJsonValue(value: unknown, limit = MAX_JSON_DEPTH): boolean {
  const stack: Array<[unknown, number]> = [[value, 0]];
  for (let entry = stack.pop(); entry !== undefined; entry = stack.pop()) {
    const [item, depth] = entry;
    if (item === null || typeof item === "string" || typeof item === "boolean") continue;
    if (typeof item === "number") {
      if (!Number.isFinite(item)) return false;
      continue;
    }
    if (typeof item !== "object" || depth >= limit) return false;
    if (Array.isArray(item)) {
      for (const child of item) stack.push([child, depth + 1]);
      continue;
    }
    const prototype = Object.getPrototypeOf(item);
    if (prototype !== Object.prototype && prototype !== null) return false;
    for (const child of Object.values(item)) stack.push([child, depth + 1]);
  }
  return true;
}

/** Nesting depth of a JSON value, counted up to just past `limit`; iterative, so any depth is safe to ask about. */
export function jsonDepth(value: unknown, limit = MAX_JSON_DEPTH): number {
  let deepest = 0;
  const stack: Array<[unknown, number]> = [[value, 0]];
  for (let entry = stack.pop(); entry !== undefined; entry = stack.pop()) {
    const [item, depth] = entry;
    deepest = Math.max(deepest, depth);
    if (depth > limit || item === null || typeof item !== "object") continue;
    for (const child of Array.isArray(item) ? item : Object.values(item)) stack.push([child, depth + 1]);
  }
  return deepest;
}
