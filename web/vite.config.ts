/**
 * Vite config for the in-browser explainer. The page imports the library's TypeScript straight from
 * the repository (../index.ts, ../diffusion, ../nn, ../experiments), so the server may read files
 * above web/ (`server.fs.allow`).
 *
 * Node-only modules never reach the browser: the `webgpu` package (Dawn, a native addon) and `node:*`
 * builtins are imported by the library only behind runtime guards (backends/webgpu uses navigator.gpu
 * when it exists; nn/safetensors reads files only when asked), so here they resolve to a stub module
 * that throws if it is ever called. Static imports of a stub's missing names fail the build, which is
 * what we want: a page that statically imports fs is a bug.
 */
import { fileURLToPath } from 'node:url';
import { defineConfig, type Plugin } from 'vite';

const STUB_PREFIX = '\0node-only:';

function nodeOnlyStubs(): Plugin {
  return {
    name: 'rolling-diffusion:node-only-stubs',
    enforce: 'pre',
    resolveId(id) {
      if (id === 'webgpu' || id.startsWith('node:')) return STUB_PREFIX + id;
      return null;
    },
    load(id) {
      if (!id.startsWith(STUB_PREFIX)) return null;
      const name = JSON.stringify(id.slice(STUB_PREFIX.length));
      const thrower = `() => { throw new Error(${name} + ' is Node-only and not available in the browser'); }`;
      // `create` is the webgpu package's entry point; the rest fail on first use.
      return `const fail = ${thrower};\nexport const create = fail;\nexport default new Proxy({}, { get: fail });\n`;
    },
  };
}

/**
 * Cross-origin isolation, so the page has SharedArrayBuffer and the wasm backend can run its Web
 * Workers on shared memory. A static host must send the same two headers for threads; without them
 * the page still works, on one thread.
 */
const ISOLATION = { 'Cross-Origin-Opener-Policy': 'same-origin', 'Cross-Origin-Embedder-Policy': 'require-corp' };

export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  base: './',
  plugins: [nodeOnlyStubs()],
  server: { fs: { allow: ['..'] }, headers: ISOLATION },
  preview: { headers: ISOLATION },
  optimizeDeps: { exclude: ['webgpu'] },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    chunkSizeWarningLimit: 2000,
  },
});
