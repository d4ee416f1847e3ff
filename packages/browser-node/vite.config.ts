import { defineConfig } from "vite";

/**
 * The contributor page: built from the compiled library (dist/), so the engine worker and the
 * wllama WebAssembly file are found the same way any bundler would find them. Relative asset
 * URLs let the same files be hosted under any path (the gateway serves them at /contribute/).
 */
export default defineConfig({
  root: "page",
  base: "./",
  publicDir: false,
  build: {
    outDir: "../dist/contribute",
    emptyOutDir: true,
    target: "es2022",
    chunkSizeWarningLimit: 8192,
    rollupOptions: {
      // zod's pure-annotation comments are harmless; the notice about each one is noise.
      onwarn(warning, warn) {
        if (warning.code !== "INVALID_ANNOTATION") warn(warning);
      },
    },
  },
  worker: { format: "es" },
  logLevel: "warn",
});
