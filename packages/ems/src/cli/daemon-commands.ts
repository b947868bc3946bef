import { Command } from "commander";

/** `start`, `status`, `csr`, `audit`. */
export function daemonCommands(): Command[] {
  return [];
}
