// tsc type-checking a real TypeScript code base: the compiler API creates a
// program over the given .ts/.d.ts files (e.g. TypeScript's own lib and
// @types), asks for every semantic diagnostic, and writes the heap snapshot
// while the program and its type checker are live.
//   node tsc-check.js OUT.heapsnapshot FILE_OR_DIR...   (needs typescript 5, the JavaScript compiler)
'use strict';
const fs = require('fs');
const path = require('path');
const v8 = require('v8');
const ts = require('typescript');

const [out, ...inputs] = process.argv.slice(2);
const files = [];
for (const p of inputs) {
  if (fs.statSync(p).isDirectory()) {
    (function walk(d) {
      for (const e of fs.readdirSync(d, {withFileTypes: true})) {
        const q = path.join(d, e.name);
        if (e.isDirectory()) walk(q);
        else if (/\.(d\.)?ts$/.test(e.name)) files.push(q);
      }
    })(p);
  } else {
    files.push(p);
  }
}
const program = ts.createProgram(files, {strict: true, noEmit: true, skipLibCheck: false, target: ts.ScriptTarget.ES2022});
const diagnostics = ts.getPreEmitDiagnostics(program);
v8.writeHeapSnapshot(out);
console.log(`${files.length} files, ${program.getSourceFiles().length} in the program, ${diagnostics.length} diagnostics`);
