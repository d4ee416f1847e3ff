/**
 * The `data` payloads of a server-sent event stream, one per event, as OpenAI-compatible servers
 * stream completions. It ends at `[DONE]` or at the end of the body; other fields (`event`, `id`,
 * comments) carry nothing an OpenAI stream needs.
 */
export async function* serverSentData(body: AsyncIterable<Uint8Array>): AsyncGenerator<string, void, undefined> {
  const decoder = new TextDecoder();
  let buffer = "";
  let data: string[] = [];
  for await (const bytes of body) {
    buffer += decoder.decode(bytes, { stream: true });
    for (let newline = buffer.indexOf("\n"); newline >= 0; newline = buffer.indexOf("\n")) {
      const line = buffer.slice(0, buffer[newline - 1] === "\r" ? newline - 1 : newline);
      buffer = buffer.slice(newline + 1);
      if (line === "") {
        if (data.length === 0) continue;
        const payload = data.join("\n");
        data = [];
        if (payload === "[DONE]") return;
        yield payload;
      } else if (line.startsWith("data:")) {
        data.push(line.slice(line[5] === " " ? 6 : 5));
      }
    }
  }
  if (data.length > 0 && data.join("\n") !== "[DONE]") yield data.join("\n");
}
