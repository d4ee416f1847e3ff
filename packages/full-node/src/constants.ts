/**
 * The top-k the engine samples with: node-llama-cpp's own default, passed explicitly so that an
 * auditor can rebuild the exact candidate set a served token was drawn from.
 */
export const ENGINE_TOP_K = 40;
