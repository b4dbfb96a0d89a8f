// Reference renderings from npm @huggingface/jinja (what transformers.js and the Hugging Face Hub use), for
// tests/chat_template/chat_template_test.cpp.
// usage: node render_chat_template.mjs <npm-dir> <cases.json> <out.json>
//   cases.json: [{"template": "...", "variables": {...}}, ...]
//   out.json:   [{"ok": true, "text": "..."} | {"ok": false, "error": "..."}, ...]
import { createRequire } from "node:module";
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";

const [npmDir, casesFile, outFile] = process.argv.slice(2);
const require = createRequire(path.join(path.resolve(npmDir), "package.json"));
const { Template } = require("@huggingface/jinja");
const cases = JSON.parse(readFileSync(casesFile, "utf8"));
const results = cases.map(({ template, variables }) => {
  try {
    return { ok: true, text: new Template(template).render(variables) };
  } catch (error) {
    return { ok: false, error: String(error && error.message) };
  }
});
writeFileSync(outFile, JSON.stringify(results));
