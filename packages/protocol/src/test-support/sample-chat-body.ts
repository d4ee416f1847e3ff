import type { ChatBody } from "../chat-body.js";

/** A short chat body with every sampling setting filled in, for tests that need a request to sign. */
export const sampleChatBody: ChatBody = {
  messages: [{ role: "user", content: "Once upon a time" }],
  maxTokens: 16,
  temperature: 1,
  topP: 1,
  seed: 7,
  stop: [],
};
