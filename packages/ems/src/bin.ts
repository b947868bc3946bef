#!/usr/bin/env node
// No top-level await: the one-file binary bundles this entry point as CommonJS.
import { main } from "./cli/main.js";

void main(process.argv).then((code) => {
  process.exitCode = code;
});
