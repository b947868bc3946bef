import Conf from "conf";
import validateConfig from "../generated/config-validator.js";
import type { EmsConfigData } from "./schema.js";

/**
 * `conf` checking its store with the validator generated from CONFIG_SCHEMA at build time
 * (scripts/gen-config-validator.mjs) instead of compiling the schema with ajv at every open. Give
 * it no `schema`, `ajvOptions` or `rootSchema`: then conf never constructs ajv, and every read and write is still checked, with
 * conf's own error text ("Config schema violation: `server/url` must match pattern ...") and the
 * schema's defaults filled in, as conf does with `useDefaults`.
 */
export class PrecompiledConf extends Conf<EmsConfigData> {}

// conf calls this._validate(data) on every read and write, also from its constructor; its
// typings mark the method private, so the override is installed on the prototype.
Object.defineProperty(PrecompiledConf.prototype, "_validate", {
  value: function validate(data: unknown): void {
    if (validateConfig(data) || !validateConfig.errors) return;
    const errors = validateConfig.errors.map(
      ({ instancePath, message = "" }) => `\`${instancePath.slice(1)}\` ${message}`,
    );
    throw new Error(`Config schema violation: ${errors.join("; ")}`);
  },
});
