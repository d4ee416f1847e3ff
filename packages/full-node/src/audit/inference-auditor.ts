import type { DeliveredChoice, InferenceReceipt, InferenceRequest } from "@opengateway/protocol";
import { CancelledError } from "@opengateway/protocol";
import type { ChatWrapper, Llama, LlamaContext, LlamaModel, Token } from "node-llama-cpp";
import { toChatHistory } from "../chat-history.js";
import { chatWrapperFor, renderChatPrompt } from "../chat-prompt.js";
import { ENGINE_TOP_K } from "../constants.js";
import { loadModelContext, modelIdFromPath } from "../model-context.js";
import { SequencePool } from "../sequence-pool.js";
import type { AuditReason, AuditVerdict, ChoiceFigures } from "./audit-verdict.js";
import { outcomeOf } from "./audit-verdict.js";
import { judgeChoice } from "./choice-judgement.js";
import { CompletionScorer, stopConditionsOf } from "./completion-scorer.js";
import { checkUsage, completionTokenSlack } from "./usage-check.js";

export interface InferenceAuditorOptions {
  /** The same GGUF file the audited providers serve. */
  modelPath: string;
  /** The id requests name; defaults to the file name without `.gguf`, as the engine does. */
  modelId?: string;
  threads: number;
  /** Audits run at once, each on its own context sequence. */
  parallelAudits?: number;
  /** Audits waiting for a sequence before new ones are refused as overloaded. */
  maxQueuedAudits?: number;
  /** Tokens of context per sequence; defaults to the model's training size, capped at 4096. */
  contextSize?: number;
  /** Tokens evaluated per batch (llama.cpp's n_batch). */
  batchSize?: number;
  gpu?: false | "auto";
}

/** One choice as the client received it (the protocol's shape, which receipts commit to). */
export type { DeliveredChoice };

export interface AuditInput {
  /** The signed request as the payer sent it. */
  readonly request: InferenceRequest;
  readonly delivered: { readonly choices: readonly DeliveredChoice[] };
  /** The provider's receipt: its usage is checked against the auditor's count. */
  readonly receipt?: InferenceReceipt;
  /** The provider's advertised price: tells whether the payer's reserve could have cut generation short. */
  readonly pricePerToken?: number;
}

/**
 * Re-checks a served chat or completion with the same model, without needing the provider's
 * output to be reproducible bit for bit: the prompt is rendered as the engine renders it, the
 * delivered text is scored in one forward pass, and each token and the sequence as a whole are
 * tested against the requested sampling (see choice-judgement.ts).
 */
export class InferenceAuditor {
  readonly modelId: string;
  readonly #llama: Llama;
  readonly #model: LlamaModel;
  readonly #context: LlamaContext;
  readonly #chatWrapper: ChatWrapper;
  readonly #pool: SequencePool<CompletionScorer>;

  private constructor(
    llama: Llama,
    model: LlamaModel,
    context: LlamaContext,
    modelId: string,
    parallel: number,
    maxQueue: number,
  ) {
    this.#llama = llama;
    this.#model = model;
    this.#context = context;
    this.modelId = modelId;
    this.#chatWrapper = chatWrapperFor(model);
    const scorers = Array.from({ length: parallel }, () => new CompletionScorer(model, context.getSequence()));
    this.#pool = new SequencePool(scorers, { maxQueue });
  }

  static async load(options: InferenceAuditorOptions): Promise<InferenceAuditor> {
    const parallel = options.parallelAudits ?? 1;
    const { llama, model, context } = await loadModelContext({ ...options, sequences: parallel });
    const modelId = options.modelId ?? modelIdFromPath(options.modelPath);
    try {
      return new InferenceAuditor(llama, model, context, modelId, parallel, options.maxQueuedAudits ?? 16);
    } catch (error) {
      await llama.dispose();
      throw error;
    }
  }

  /** Tokens of context each audit has: prompt and the longest choice must fit. */
  get contextSize(): number {
    return this.#context.contextSize;
  }

  async audit(input: AuditInput, options: { signal?: AbortSignal } = {}): Promise<AuditVerdict> {
    options.signal?.throwIfAborted();
    const started = performance.now();
    const verdict = (
      reasons: AuditReason[],
      choices: ChoiceFigures[] = [],
      rest: Partial<AuditVerdict> = {},
      evaluatedTokens = 0,
    ) => ({
      outcome: outcomeOf(reasons),
      reasons,
      choices,
      ...rest,
      cost: { evaluatedTokens, ms: performance.now() - started },
    });
    const { request, delivered, receipt } = input;
    const unsupported = this.#unsupported(request);
    if (unsupported.length > 0) return verdict(unsupported);
    if (request.kind === "embedding") return verdict([]);
    const body = request.body;
    const choiceCount = body.n ?? 1;
    const byIndex = new Map(delivered.choices.map((choice) => [choice.index, choice]));
    if (
      delivered.choices.length !== choiceCount ||
      byIndex.size !== choiceCount ||
      ![...byIndex.keys()].every((i) => i < choiceCount)
    ) {
      return verdict([
        { code: "choice-mismatch", message: `${delivered.choices.length} choices delivered for n = ${choiceCount}` },
      ]);
    }
    const prompt = this.#renderPrompt(request);
    const stops = stopConditionsOf(this.#model, prompt.stopTriggers, body.stop);
    const longest = Math.max(
      ...delivered.choices.map((choice) => this.#model.tokenize(choice.text, false, "trimLeadingSpace").length),
    );
    if (prompt.tokens.length + longest + completionTokenSlack(longest) + 1 > this.#context.contextSize) {
      return verdict([
        {
          code: "context-overflow",
          message: `prompt and answer need more than the auditor's ${this.#context.contextSize} tokens`,
        },
      ]);
    }
    const lease = await this.#pool.acquire({ signal: options.signal });
    try {
      const scorer = lease.value;
      await scorer.scorePrompt(prompt.tokens);
      let evaluatedTokens = prompt.tokens.length;
      const sampling = { temperature: body.temperature, topP: body.topP, topK: body.topK ?? ENGINE_TOP_K };
      const reasons: AuditReason[] = [];
      const figures: ChoiceFigures[] = [];
      let countedCompletion = 0;
      const scored = [];
      for (let index = 0; index < choiceCount; index++) {
        options.signal?.throwIfAborted();
        const choice = byIndex.get(index) as DeliveredChoice;
        const result = await scorer.scoreChoice(choice.text, sampling, stops);
        evaluatedTokens += result.evaluatedTokens;
        countedCompletion += result.positions.length;
        scored.push({ choice, result });
      }
      const reserveMayHaveCut =
        input.pricePerToken === undefined || input.pricePerToken <= 0
          ? undefined
          : prompt.tokens.length + countedCompletion + completionTokenSlack(countedCompletion) >=
            Math.floor(request.maxCredits / input.pricePerToken);
      for (const { choice, result } of scored) {
        // A receipt for cancelled work covers a prefix of the answer: no claim about how it ends.
        const cancelled = receipt?.finishReason === "cancelled";
        const judgement = judgeChoice(
          { index: choice.index, finishReason: cancelled ? "length" : choice.finishReason, ...result },
          { sampling, maxTokens: body.maxTokens, reserveMayHaveCut: cancelled ? undefined : reserveMayHaveCut },
        );
        reasons.push(...judgement.reasons);
        figures.push(judgement.figures);
      }
      let usage: AuditVerdict["usage"];
      if (receipt !== undefined) {
        const checked = checkUsage(receipt.usage, { promptTokens: prompt.tokens.length, choices: figures }, body.maxTokens);
        usage = checked.figures;
        reasons.push(...checked.reasons);
      }
      return verdict(reasons, figures, usage === undefined ? {} : { usage }, evaluatedTokens);
    } catch (error) {
      if (options.signal?.aborted) throw options.signal.reason ?? new CancelledError();
      throw error;
    } finally {
      lease.release();
    }
  }

  /** What the audit cannot re-check yet: it changes the distribution in ways not rebuilt here. */
  #unsupported(request: InferenceRequest): AuditReason[] {
    const reasons: AuditReason[] = [];
    const refuse = (message: string) => reasons.push({ code: "unsupported-request", message });
    if (request.model !== this.modelId) {
      reasons.push({ code: "model-mismatch", message: `the auditor holds '${this.modelId}', not '${request.model}'` });
      return reasons;
    }
    if (request.kind === "embedding") {
      refuse("embeddings are not audited yet");
      return reasons;
    }
    const body = request.body;
    if (body.logitBias !== undefined && Object.keys(body.logitBias).length > 0) refuse("logit_bias is not audited yet");
    if ((body.presencePenalty ?? 0) !== 0 || (body.frequencyPenalty ?? 0) !== 0 || body.repetitionPenalty !== undefined)
      refuse("penalties are not audited yet");
    if (body.minP !== undefined && body.minP > 0) refuse("min_p is not audited yet");
    if (request.kind === "chat") {
      const { tools, toolChoice, responseFormat } = request.body;
      if (tools !== undefined && tools.length > 0 && toolChoice !== "none") refuse("tool calls are not audited yet");
      if (responseFormat !== undefined && responseFormat.type !== "text")
        refuse("response formats (grammars) are not audited yet");
    }
    return reasons;
  }

  /** The prompt tokens exactly as the engine evaluated them, and what would have ended the turn. */
  #renderPrompt(request: InferenceRequest): {
    tokens: Token[];
    stopTriggers: ReturnType<typeof renderChatPrompt>["stopGenerationTriggers"];
  } {
    if (request.kind === "chat") {
      const history = toChatHistory(request.body.messages, { continueFinal: request.body.continueFinal });
      const rendered = renderChatPrompt(this.#chatWrapper, history);
      return { tokens: rendered.contextText.tokenize(this.#model.tokenizer), stopTriggers: rendered.stopGenerationTriggers };
    }
    if (request.kind !== "completion") return { tokens: [], stopTriggers: [] };
    // As LlamaCompletion does: a BOS where the vocabulary wants one, then the prompt without the
    // tokenizer's own leading space.
    const bos = beginningToken(this.#model);
    const tokens = this.#model.tokenize(request.body.prompt, false, bos === undefined ? undefined : "trimLeadingSpace");
    return { tokens: bos === undefined ? tokens : [bos, ...tokens], stopTriggers: [] };
  }

  async close(): Promise<void> {
    await this.#context.dispose();
    await this.#model.dispose();
    await this.#llama.dispose();
  }
}

/** node-llama-cpp's rule for the token a completion prompt starts with (resolveBeginningTokenToPrepend). */
function beginningToken(model: LlamaModel): Token | undefined {
  const type = model.vocabularyType;
  if (type === "rwkv" || type === "ugm") return undefined;
  if (type === "wpm" || model.tokens.shouldPrependBosToken) return model.tokens.bos ?? undefined;
  return undefined;
}
