// Dev-only check: parse Mermaid blocks with the real mermaid parser (node + jsdom).
// Usage: NODE_PATH=<dir with node_modules/mermaid and jsdom> node mermaid_parse.mjs blocks.json
// Prints "<index> OK" or "<index> FAIL <message>" per block. Driven by test_mermaid_parse.py.
import { createRequire } from "module";
import fs from "fs";
import path from "path";
const require = createRequire(path.join(process.env.RACEPROOF_MERMAID_DIR, "noop.js"));
const { JSDOM } = require("jsdom");
const dom = new JSDOM("<!DOCTYPE html><body></body>");
globalThis.window = dom.window; globalThis.document = dom.window.document;
const { default: mermaid } = await import(require.resolve("mermaid"));
mermaid.initialize({ startOnLoad: false });
const blocks = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
for (const [i, b] of blocks.entries()) {
  try { await mermaid.parse(b); console.log(i, "OK"); }
  catch (e) { console.log(i, "FAIL", String(e.message || e).split("\n").slice(0, 3).join(" | ")); }
}
