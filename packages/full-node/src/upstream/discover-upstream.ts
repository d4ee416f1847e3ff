import { errorFromUpstreamFailure, errorFromUpstreamStatus } from "./upstream-errors.js";

/** A model as the upstream lists it, with what it says about it. */
export interface UpstreamModel {
  readonly id: string;
  /** Tokens of context one request gets, where the upstream says. */
  readonly contextSize?: number;
  /** The model file's size in bytes, where the upstream says. */
  readonly sizeBytes?: number;
}

/** What an OpenAI-compatible server tells about itself; llama-server tells more through `/props`. */
export interface UpstreamServer {
  readonly models: readonly UpstreamModel[];
  /** Requests it generates at once (llama-server's slots). */
  readonly slots?: number;
  /** llama-server's build (e.g. `b11669-Debian`). */
  readonly build?: string;
  /** Whether its chat template handles tools; undefined where it does not say. */
  readonly supportsTools?: boolean;
  /** It is llama-server: it reports per-token timings and understands its own request fields. */
  readonly llamaServer: boolean;
}

interface ModelList {
  data?: { id?: unknown; meta?: { n_ctx?: unknown; size?: unknown } | null }[];
}

interface LlamaServerProps {
  total_slots?: unknown;
  build_info?: unknown;
  default_generation_settings?: { n_ctx?: unknown };
  chat_template_caps?: { supports_tools?: unknown };
}

/** Lists the upstream's models (`GET /models`) and reads llama-server's `/props` where there is one. */
export async function discoverUpstream(
  baseURL: string,
  options: { headers: Record<string, string>; signal?: AbortSignal },
): Promise<UpstreamServer> {
  const list = (await getJson(`${baseURL}/models`, baseURL, options)) as ModelList;
  // llama-server serves /props beside /v1, not under it; other servers answer 404, which is fine.
  const props = (await getJson(`${serverRoot(baseURL)}/props`, baseURL, options).catch(() => undefined)) as
    | LlamaServerProps
    | undefined;
  const llamaServer = typeof props?.total_slots === "number";
  const propsContext = positive(props?.default_generation_settings?.n_ctx);
  const models = (list.data ?? []).flatMap((entry): UpstreamModel[] => {
    if (typeof entry.id !== "string" || entry.id === "") return [];
    const contextSize = positive(entry.meta?.n_ctx) ?? propsContext;
    const sizeBytes = positive(entry.meta?.size);
    return [{ id: entry.id, ...(contextSize ? { contextSize } : {}), ...(sizeBytes ? { sizeBytes } : {}) }];
  });
  const supportsTools = props?.chat_template_caps?.supports_tools;
  return {
    models,
    slots: llamaServer ? positive(props?.total_slots) : undefined,
    build: typeof props?.build_info === "string" ? props.build_info : undefined,
    supportsTools: typeof supportsTools === "boolean" ? supportsTools : undefined,
    llamaServer,
  };
}

/** `http://host:8080/v1` → `http://host:8080`. */
function serverRoot(baseURL: string): string {
  return baseURL.replace(/\/v1$/, "");
}

async function getJson(
  url: string,
  upstream: string,
  options: { headers: Record<string, string>; signal?: AbortSignal },
): Promise<unknown> {
  let response: Response;
  try {
    response = await fetch(url, { headers: options.headers, signal: options.signal });
  } catch (error) {
    throw errorFromUpstreamFailure(error, upstream);
  }
  const text = await response.text();
  if (!response.ok) throw errorFromUpstreamStatus(response.status, text, upstream);
  return JSON.parse(text) as unknown;
}

function positive(value: unknown): number | undefined {
  return typeof value === "number" && Number.isInteger(value) && value > 0 ? value : undefined;
}
