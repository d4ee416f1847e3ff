import type { ChatMessage } from "@opengateway/protocol";
import type { ChatHistoryItem, ChatModelFunctionCall, ChatModelResponse } from "node-llama-cpp";

/**
 * OpenAI messages → node-llama-cpp chat history. An assistant turn's tool calls become function
 * call items carrying the results of the matching `tool` messages; a tool message that answers
 * no known call is kept as user text so nothing the client sent is dropped.
 */
export function toChatHistory(messages: readonly ChatMessage[], options: { continueFinal?: boolean } = {}): ChatHistoryItem[] {
  const results = new Map<string, string>();
  for (const message of messages)
    if (message.role === "tool" && message.toolCallId) results.set(message.toolCallId, message.content);
  const answered = new Set<string>();
  const history: ChatHistoryItem[] = [];
  for (const message of messages) {
    switch (message.role) {
      case "system":
        history.push({ type: "system", text: message.content });
        break;
      case "user":
        history.push({ type: "user", text: message.content });
        break;
      case "assistant": {
        const response: ChatModelResponse["response"] = message.content ? [message.content] : [];
        for (const call of message.toolCalls ?? []) {
          answered.add(call.id);
          const item: ChatModelFunctionCall = {
            type: "functionCall",
            name: call.name,
            params: parseArguments(call.arguments),
            result: results.get(call.id) ?? "",
          };
          response.push(item);
        }
        history.push({ type: "model", response });
        break;
      }
      case "tool":
        if (!message.toolCallId || !answered.has(message.toolCallId)) {
          history.push({
            type: "user",
            text: `Tool result${message.toolCallId ? ` (${message.toolCallId})` : ""}: ${message.content}`,
          });
        }
        break;
    }
  }
  // Generation continues the last model turn: a resumed answer's own text, or else an empty new turn.
  const last = messages.at(-1);
  if (!(options.continueFinal && last?.role === "assistant" && !last.toolCalls?.length))
    history.push({ type: "model", response: [] });
  return history;
}

function parseArguments(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}
