// Writes docs/openapi.json from the operator API's route schemas (run after `npm run build`).
// `node scripts/openapi.mjs --check` exits 1 when the committed file differs.
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { isDeepStrictEqual } from "node:util";
import * as prettier from "prettier";
import { openApiDocument } from "../packages/server/dist/internal.js";

const file = join(import.meta.dirname, "..", "docs", "openapi.json");
const doc = await openApiDocument();
if (process.argv.includes("--check")) {
  const same = isDeepStrictEqual(JSON.parse(readFileSync(file, "utf8")), doc);
  console.log(same ? "docs/openapi.json is current" : "docs/openapi.json differs: run npm run openapi");
  process.exit(same ? 0 : 1);
}
writeFileSync(file, await prettier.format(JSON.stringify(doc), { parser: "json", printWidth: 120 }));
console.log(`wrote ${file}`);
