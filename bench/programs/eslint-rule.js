// ESLint linting a large tree of real JavaScript (every .js file under the
// given directories, up to 2,000), with a custom rule that writes the heap
// snapshot from inside its visitor while the 1,500th file is being linted:
// the Linter, its source code objects and the rule contexts are all live.
//   node eslint-rule.js OUT.heapsnapshot DIR...   (needs eslint 9)
'use strict';
const fs = require('fs');
const path = require('path');
const v8 = require('v8');
const {Linter} = require('eslint');

const [out, ...dirs] = process.argv.slice(2);
const files = [];
(function walk(list) {
  for (const d of list) {
    for (const e of fs.readdirSync(d, {withFileTypes: true})) {
      if (files.length >= 2000) return;
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk([p]);
      else if (e.name.endsWith('.js') && fs.statSync(p).size < 400000) files.push(p);
    }
  }
})(dirs);
let linted = 0;
const plugin = {
  rules: {
    'snapshot-midway': {
      create(context) {
        return {
          'Program:exit'() {
            if (++linted === 1500) v8.writeHeapSnapshot(out);
          },
        };
      },
    },
  },
};
const linter = new Linter({configType: 'flat'});
const config = [{
  plugins: {bench: plugin},
  languageOptions: {ecmaVersion: 'latest', sourceType: 'commonjs'},
  rules: {
    'bench/snapshot-midway': 'error', 'no-unused-vars': 'warn', 'no-undef': 'off', 'eqeqeq': 'warn',
    'prefer-const': 'warn', 'no-var': 'warn', 'complexity': ['warn', 5], 'max-depth': ['warn', 3],
  },
}];
const results = [];
for (const f of files) results.push(linter.verify(fs.readFileSync(f, 'utf8'), config, f));
console.log(`${files.length} files, ${results.reduce((n, r) => n + r.length, 0)} messages, snapshot at ${linted >= 1500}`);
