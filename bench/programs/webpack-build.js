// A webpack production build of a generated 600-module app (ES modules
// importing each other, classes, JSON, string-heavy code), with the heap
// snapshot written by a plugin while the compilation is being sealed
// (modules, chunks, the module graph and Compilation all live).
//   node webpack-build.js OUT.heapsnapshot WORKDIR   (needs webpack 5)
'use strict';
const fs = require('fs');
const path = require('path');
const v8 = require('v8');
const webpack = require('webpack');

const [out, work] = process.argv.slice(2);
const src = path.join(work, 'src');
fs.mkdirSync(src, {recursive: true});
const N = 600;
for (let i = 0; i < N; i++) {
  const deps = [1, 7, 31].map(k => (i + k) % N).filter(d => d > i);
  fs.writeFileSync(path.join(src, `m${i}.js`), [
    ...deps.map(d => `import { C${d} } from './m${d}.js';`),
    `export class C${i} {`,
    `  constructor(x) { this.x = x; this.label = ${JSON.stringify(('module ' + i + ' ').repeat(8))}; }`,
    `  run() { return [${deps.map(d => `new C${d}(this.x).run()`).join(', ')}].flat().concat(this.x); }`,
    `}`,
    `export const table${i} = ${JSON.stringify(Array.from({length: 20}, (_, k) => ({k, v: `v${i}-${k}`})))};`,
  ].join('\n'));
}
fs.writeFileSync(path.join(src, 'index.js'), `import { C0 } from './m0.js';\nconsole.log(new C0(1).run().length);\n`);
class SnapshotPlugin {
  apply(compiler) {
    compiler.hooks.compilation.tap('snapshot', compilation => {
      compilation.hooks.afterOptimizeChunkModules.tap('snapshot', () => v8.writeHeapSnapshot(out));
    });
  }
}
webpack({
  mode: 'production', context: work, entry: './src/index.js',
  output: {path: path.join(work, 'dist'), filename: 'bundle.js'},
  plugins: [new SnapshotPlugin()],
}, (err, stats) => {
  if (err || stats.hasErrors()) {
    console.error(err || stats.toString('errors-only'));
    process.exit(1);
  }
  console.log(stats.toString({all: false, assets: true}));
});
