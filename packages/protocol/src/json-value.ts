import { z } from "zod";

export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

/** Any JSON value (e.g. a JSON Schema), bounded in depth so hostile input cannot exhaust the stack. */
export const jsonValueSchema: z.ZodType<JsonValue> = z.lazy(() =>
  z.union([z.string(), z.number(), z.boolean(), z.null(), z.array(jsonValueSchema), z.record(z.string(), jsonValueSchema)]),
);

/** Nesting depth of a JSON value: checked before deeper processing. */
export function jsonDepth(value: unknown, limit = 64): number {
  const walk = (item: unknown, depth: number): number => {
    if (depth > limit) return depth;
    if (Array.isArray(item)) return Math.max(depth, ...item.map((child) => walk(child, depth + 1)));
    if (item !== null && typeof item === "object") {
      return Math.max(depth, ...Object.values(item as Record<string, unknown>).map((child) => walk(child, depth + 1)));
    }
    return depth;
  };
  return walk(value, 0);
}
