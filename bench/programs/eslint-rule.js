// ESLint (its ESLint class, as the CLI runs it) linting ~2,000 real
// JavaScript files (every .js file under the given directories, copied into
// WORK/src because ESLint ignores node_modules), with a custom rule that
// writes the heap snapshot from inside its visitor while the 1,500th file is
// being linted: the ESLint and Linter instances, the results so far, the
// source code and rule contexts are all live, held from the stack.
//   node eslint-rule.js OUT.heapsnapshot WORK DIR...   (needs eslint 9)
'use strict';
const fs = require('fs');
const path = require('path');
const v8 = require('v8');
const {ESLint} = require('eslint');

const [out, work, ...dirs] = process.argv.slice(2);
const src = path.join(work, 'src');
fs.rmSync(src, {recursive: true, force: true});
fs.mkdirSync(src, {recursive: true});
let n = 0;
(function walk(list) {
  for (const d of list) {
    for (const e of fs.readdirSync(d, {withFileTypes: true})) {
      if (n >= 2000) return;
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk([p]);
      else if (e.name.endsWith('.js') && fs.statSync(p).size < 400000) fs.copyFileSync(p, path.join(src, `${n++}-${e.name}`));
    }
  }
})(dirs);
let linted = 0;
const plugin = {
  rules: {
    'snapshot-midway': {
      create() {
        return {
          'Program:exit'() {
            if (++linted === 1500) v8.writeHeapSnapshot(out);
          },
        };
      },
    },
  },
};
(async () => {
  const eslint = new ESLint({
    cwd: work,
    overrideConfigFile: true,
    overrideConfig: [{
      files: ['**/*.js'],
      plugins: {bench: plugin},
      languageOptions: {ecmaVersion: 'latest', sourceType: 'commonjs'},
      linterOptions: {reportUnusedDisableDirectives: 'off'},
      rules: {
        'bench/snapshot-midway': 'error', 'no-unused-vars': 'warn', 'eqeqeq': 'warn', 'prefer-const': 'warn',
        'no-var': 'warn', 'complexity': ['warn', 5], 'max-depth': ['warn', 3],
      },
    }],
  });
  const results = await eslint.lintFiles(['src']);
  console.log(`${results.length} files, ${results.reduce((k, r) => k + r.messages.length, 0)} messages, ` +
              `snapshot at ${linted >= 1500}`);
})();
