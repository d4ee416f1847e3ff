import type { RouteRequest } from "@opengateway/p2p";
import type { ChoiceEnd, InferenceReceipt, Usage } from "@opengateway/protocol";
import { randomId } from "@opengateway/protocol";
import type { Completion, CompletionChoice } from "openai/resources";
import type { ValidatedCompletionRequest } from "./completion-request.js";
import { parseCompletionRequest } from "./completion-request.js";
import { requireServes, servedModel } from "./models-endpoint.js";
import type { OpenAICall, OpenAIResult } from "./openai-endpoint.js";
import { jsonResult, openAIUsage } from "./openai-endpoint.js";
import { addUsage, RoutedStream } from "./routed-stream.js";

type CompletionAnswer = Completion & { opengateway: { receipts: InferenceReceipt[]; providers: string[] } };
/** The `openai` package types a streamed completion as a `Completion`, but a choice's finish_reason is null until its end. */
type CompletionChunk = Omit<Completion, "choices" | "usage"> & {
  choices: Array<Omit<CompletionChoice, "finish_reason"> & { finish_reason: CompletionChoice["finish_reason"] | null }>;
  usage?: Completion["usage"] | null;
};

/**
 * `POST /v1/completions` (legacy), whole or streamed. Each prompt is routed as its own request,
 * one after another; choice `i` of prompt `p` is choice `p × n + i` of the answer.
 */
export async function completionsEndpoint(raw: unknown, call: OpenAICall): Promise<OpenAIResult> {
  const served = servedModel(call.router, raw);
  const request = parseCompletionRequest(raw, { contextSize: served?.contextSize ?? Number.MAX_SAFE_INTEGER });
  requireServes(call.router, served, request.model, "completion");
  const id = `cmpl-${randomId(18)}`;
  const routes: RouteRequest[] = request.bodies.map((body, prompt) => ({
    kind: "completion",
    model: request.model,
    body,
    requestId: `${id.slice("cmpl-".length)}${request.bodies.length > 1 ? `-${prompt}` : ""}`,
  }));
  const stream = await RoutedStream.start(call, routes, id);
  return request.stream ? streamed(stream, request, id, call.created) : await whole(stream, request, id, call.created);
}

const echoOf = (request: ValidatedCompletionRequest, prompt: number) =>
  request.echo ? (request.bodies[prompt]?.prompt ?? "") : "";

/** Completions carry no tools: a provider never ends one with a tool call. */
const finishReason = (reason: ChoiceEnd["finishReason"]): CompletionChoice["finish_reason"] =>
  reason === "tool_calls" ? "stop" : reason;

async function whole(
  stream: RoutedStream,
  request: ValidatedCompletionRequest,
  id: string,
  created: number,
): Promise<OpenAIResult> {
  const perPrompt = request.choicesPerPrompt;
  const texts: string[] = [];
  const choices: CompletionChoice[] = [];
  let prompt = 0;
  const done = await stream.drain((event) => {
    if (event.type === "delta") {
      const index = prompt * perPrompt + event.index;
      texts[index] = (texts[index] ?? echoOf(request, prompt)) + event.text;
    } else if (event.type === "done") {
      for (const choice of event.choices) {
        const index = prompt * perPrompt + choice.index;
        choices.push({ index, text: "", logprobs: null, finish_reason: finishReason(choice.finishReason) });
        texts[index] ??= echoOf(request, prompt);
      }
      prompt++;
    }
  });
  const answer: CompletionAnswer = {
    id,
    object: "text_completion",
    created,
    model: request.model,
    choices: choices.map((choice) => ({ ...choice, text: texts[choice.index] ?? "" })),
    usage: openAIUsage(done.usage),
    opengateway: { receipts: done.receipts, providers: done.providers },
  };
  return jsonResult(answer, stream.headers);
}

function streamed(stream: RoutedStream, request: ValidatedCompletionRequest, id: string, created: number): OpenAIResult {
  const perPrompt = request.choicesPerPrompt;
  const chunk = (choices: CompletionChunk["choices"], usage?: CompletionChunk["usage"]): CompletionChunk => ({
    id,
    object: "text_completion",
    created,
    model: request.model,
    choices,
    // With include_usage every chunk says `usage: null`, except the usage-only chunk at the end.
    ...(request.includeUsage ? { usage: usage ?? null } : {}),
  });
  const choice = (index: number, text: string, finish: CompletionChoice["finish_reason"] | null = null) =>
    chunk([{ index, text, logprobs: null, finish_reason: finish }]);
  let total: Usage = { promptTokens: 0, completionTokens: 0 };
  const echoed = new Set<number>();
  let prompt = 0;
  return {
    kind: "event-stream",
    headers: stream.headers,
    events: stream.chunks((event): CompletionChunk[] => {
      if (event.type === "delta") {
        const index = prompt * perPrompt + event.index;
        const prefix = echoed.has(index) ? "" : echoOf(request, prompt);
        echoed.add(index);
        return [choice(index, prefix + event.text)];
      }
      if (event.type !== "done") return [];
      total = addUsage(total, event.usage);
      const out = event.choices.map((end) => choice(prompt * perPrompt + end.index, "", finishReason(end.finishReason)));
      prompt++;
      if (prompt === request.bodies.length && request.includeUsage) out.push(chunk([], openAIUsage(total)));
      return out;
    }),
  };
}
