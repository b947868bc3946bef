import type Database from "better-sqlite3";

/**
 * Version 9 of the registry schema: Thing templates (docs/templates.md). Additive: a table of
 * templates, the template a Thing was made from (a new nullable column of `things`), and a table
 * of registry facts (the id of the data key that secret values are encrypted with).
 */
export const TEMPLATES_SCHEMA = `
CREATE TABLE IF NOT EXISTS thing_templates (
  name TEXT PRIMARY KEY,
  description TEXT NOT NULL DEFAULT '',
  definition_json TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS registry_meta (
  key TEXT PRIMARY KEY,
  value TEXT NOT NULL
);
`;

/** Applies version 9; idempotent (it can run again over its own tables and column). */
export function migrateTemplates(db: Database.Database): void {
  db.exec(TEMPLATES_SCHEMA);
  const columns = db.prepare("PRAGMA table_info(things)").all() as { name: string }[];
  if (!columns.some((c) => c.name === "template")) db.exec("ALTER TABLE things ADD COLUMN template TEXT");
  db.exec("CREATE INDEX IF NOT EXISTS things_template ON things(template)");
}
