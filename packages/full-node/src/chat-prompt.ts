import type { ChatHistoryItem, ChatModelFunctions, ChatWrapper, LlamaModel, LlamaText } from "node-llama-cpp";
import { GeneralChatWrapper, resolveChatWrapper } from "node-llama-cpp";

/** A chat history as the model sees it: the prompt text and what ends the model's turn. */
export interface RenderedChatPrompt {
  contextText: LlamaText;
  stopGenerationTriggers: readonly LlamaText[];
}

/**
 * The chat template a model is served with. Models without one (like the tiny test model) get a
 * plain, general format. The engine and the auditor both take it from here, so an audit renders
 * the prompt exactly as the served request was rendered.
 */
export function chatWrapperFor(model: LlamaModel): ChatWrapper {
  return (
    (model.fileInfo.metadata?.tokenizer?.chat_template
      ? resolveChatWrapper(model, { fallbackToOtherWrappersOnJinjaError: true })
      : undefined) ?? new GeneralChatWrapper()
  );
}

/** Renders a history the way LlamaChat does before evaluating it. */
export function renderChatPrompt(
  chatWrapper: ChatWrapper,
  history: ChatHistoryItem[],
  functions?: ChatModelFunctions,
): RenderedChatPrompt {
  const { contextText, stopGenerationTriggers } = chatWrapper.generateContextState({
    chatHistory: history,
    availableFunctions: functions,
    documentFunctionParams: functions ? true : undefined,
  });
  return { contextText, stopGenerationTriggers };
}
