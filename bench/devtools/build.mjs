// Bundles bench/devtools/devtools-heap.ts (DevTools' heap-snapshot worker
// from npm chrome-devtools-frontend) into build/devtools-heap.mjs for Node.
// The frontend's generated core/i18n/locales.js is not in the npm package:
// a stub stands in (the worker never translates anything). Node 20 lacks
// Promise.withResolvers, which the worker uses: a banner polyfills it.
//   node bench/devtools/build.mjs
import {createRequire} from 'node:module';
import * as path from 'node:path';
import {fileURLToPath} from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
// esbuild is pinned in tools/js (tools/install-runtimes.sh): resolve it there
const esbuild = createRequire(path.join(root, 'tools/js/package.json'))('esbuild');
const localesStub = {
  name: 'locales-stub',
  setup(build) {
    build.onResolve({filter: /\/locales\.js$/}, () => ({path: 'locales', namespace: 'stub'}));
    build.onLoad({filter: /.*/, namespace: 'stub'}, () => ({
      contents: `export const LOCALES = ['en-US']; export const BUNDLED_LOCALES = ['en-US'];
        export const DEFAULT_LOCALE = 'en-US'; export const REMOTE_FETCH_PATTERN = '';
        export const LOCAL_FETCH_PATTERN = '';`,
      loader: 'js',
    }));
  },
};

await esbuild.build({
  entryPoints: [path.join(root, 'bench/devtools/devtools-heap.ts')],
  outfile: path.join(root, 'build/devtools-heap.mjs'),
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  logLevel: 'warning',
  plugins: [localesStub],
  banner: {
    js: `Promise.withResolvers ??= function () { let resolve, reject;
      const promise = new Promise((a, b) => { resolve = a; reject = b; });
      return { promise, resolve, reject }; };`,
  },
});
