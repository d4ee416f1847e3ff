import type { ChatBody, InferencePayload } from "@opengateway/protocol";
import { PROBE_MAX_TOKENS_RANGE } from "./constants.js";

/**
 * What challenge probes ask: ordinary-looking chat requests (short questions, a story to go on), so a provider cannot tell a probe from a paying client's request by its
 * content. Varied further by sampling parameters, lengths and a second turn now and then.
 */
const QUESTIONS = [
  "Tell me a short story about a dog who finds a ball.",
  "What should I name my new cat?",
  "Write two sentences about the sea.",
  "Can you explain why the sky is blue, simply?",
  "Give me an idea for a birthday present for my sister.",
  "Once upon a time there was a little girl. What happened next?",
  "Describe a rainy day in the park.",
  "What is a good breakfast before school?",
  "Write a very short poem about the moon.",
  "How do I make my garden grow better?",
  "Tell me about a boy who wanted to fly.",
  "Summarize the story of the three little pigs.",
  "What games can two friends play inside?",
  "Write a note thanking a teacher.",
  "Why do birds sing in the morning?",
  "Invent a funny name for a robot and tell me what it does.",
];

const CONTINUATIONS = [
  "Once upon a time, there was a little",
  "Lily went to the park with her mom. She saw",
  "The big red truck drove down the road and",
  "Tom had a new toy. He wanted to",
  "One day, a small bird flew into the",
  "The sun was shining and the children",
  "Sam and his dog were best friends. Every day they",
  "In a small house near the woods lived",
];

const FOLLOW_UPS = ["Go on.", "Make it shorter.", "And then?", "Tell me more about that."];

/** A probe's payload; `random` returns numbers in [0, 1) (Math.random in service, seeded in tests). */
export function probePayload(random: () => number): Extract<InferencePayload, { kind: "chat" }> {
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)] as T;
  const [low, high] = PROBE_MAX_TOKENS_RANGE;
  const sampling = {
    maxTokens: low + Math.floor(random() * (high - low + 1)),
    // Greedy now and then (the strictest test), sampled otherwise, with the usual top-p values.
    temperature: pick([0, 0.7, 0.8, 1, 1]),
    topP: pick([1, 0.95, 0.9]),
    seed: Math.floor(random() * 2 ** 31),
    stop: [],
  };
  // Chat only for now: on raw completions the auditor misjudged the first token once in ~75
  // honest answers (a prompt ending mid-sentence, the answer's leading space), and a false
  // "token outside the sampling set" reads as proof (docs/proof-system.md, "Limits").
  const messages: ChatBody["messages"] = [{ role: "user", content: pick(QUESTIONS) }];
  if (random() < 0.2) {
    messages.push({ role: "assistant", content: pick(CONTINUATIONS) }, { role: "user", content: pick(FOLLOW_UPS) });
  }
  return { kind: "chat", body: { messages, ...sampling } };
}
