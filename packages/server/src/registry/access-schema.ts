/**
 * Version 8 of the registry schema: the access model (docs/access.md). Groups and their members,
 * permission entries, organizations with their units, unit members and the visibility granted to
 * units. Additive: today's admin flag becomes membership of Administrators, every operator joins
 * Operators and every device Devices, and every grant becomes an Allow entry (a grant of
 * property.read also an Allow of event.subscribe, which the event stream asked before it existed).
 * The `grants` table is kept but no longer read; `restrictions` keeps its meaning (a default
 * permission taken from a device on its own Thing). Idempotent: it can run again over its own tables.
 */
export const ACCESS_SCHEMA = `
CREATE TABLE IF NOT EXISTS access_groups (
  name TEXT PRIMARY KEY,
  description TEXT NOT NULL DEFAULT '',
  predefined INTEGER NOT NULL DEFAULT 0,
  created_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS access_group_members (
  group_name TEXT NOT NULL REFERENCES access_groups(name) ON DELETE CASCADE,
  member_kind TEXT NOT NULL,
  member_name TEXT NOT NULL,
  PRIMARY KEY (group_name, member_kind, member_name)
);
CREATE TABLE IF NOT EXISTS access_entries (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  effect TEXT NOT NULL,
  subject_kind TEXT NOT NULL,
  subject_name TEXT NOT NULL,
  permission TEXT NOT NULL,
  level TEXT NOT NULL,
  target TEXT NOT NULL,
  member TEXT NOT NULL DEFAULT '',
  created_at INTEGER NOT NULL,
  UNIQUE (effect, subject_kind, subject_name, permission, level, target, member)
);
CREATE TABLE IF NOT EXISTS organizations (
  name TEXT PRIMARY KEY,
  description TEXT NOT NULL DEFAULT '',
  created_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS org_units (
  organization TEXT NOT NULL REFERENCES organizations(name) ON DELETE CASCADE,
  name TEXT NOT NULL,
  parent TEXT,
  PRIMARY KEY (organization, name)
);
CREATE TABLE IF NOT EXISTS org_unit_members (
  organization TEXT NOT NULL,
  unit TEXT NOT NULL,
  member_kind TEXT NOT NULL,
  member_name TEXT NOT NULL,
  PRIMARY KEY (organization, unit, member_kind, member_name),
  FOREIGN KEY (organization, unit) REFERENCES org_units(organization, name) ON DELETE CASCADE
);
CREATE TABLE IF NOT EXISTS visibility (
  organization TEXT NOT NULL,
  unit TEXT NOT NULL,
  entity_kind TEXT NOT NULL,
  entity_name TEXT NOT NULL,
  PRIMARY KEY (organization, unit, entity_kind, entity_name),
  FOREIGN KEY (organization, unit) REFERENCES org_units(organization, name) ON DELETE CASCADE
);
INSERT OR IGNORE INTO access_groups (name, description, predefined, created_at) VALUES
  ('Administrators', 'every permission on every Thing and device; manage the registry and the access model', 1, 0),
  ('Operators', 'people and scripts using the operator API', 1, 0),
  ('Devices', 'every device', 1, 0);
INSERT OR IGNORE INTO access_group_members (group_name, member_kind, member_name)
  SELECT 'Administrators', 'user', name FROM operators WHERE admin = 1;
INSERT OR IGNORE INTO access_group_members (group_name, member_kind, member_name)
  SELECT 'Operators', 'user', name FROM operators;
INSERT OR IGNORE INTO access_group_members (group_name, member_kind, member_name)
  SELECT 'Devices', 'device', id FROM devices;
INSERT OR IGNORE INTO access_entries (effect, subject_kind, subject_name, permission, level, target, member, created_at)
  SELECT 'allow', CASE principal_kind WHEN 'operator' THEN 'user' ELSE 'device' END, principal_id, p.permission,
    CASE WHEN thing = '*' THEN 'collection' WHEN p.permission IN ('tunnel.open', 'file.read', 'file.write') THEN 'device' ELSE 'thing' END,
    CASE WHEN thing <> '*' THEN thing WHEN p.permission IN ('tunnel.open', 'file.read', 'file.write') THEN 'devices' ELSE 'things' END,
    '', 0
  FROM grants g JOIN (SELECT 'property.read' AS src, 'property.read' AS permission
                      UNION ALL SELECT 'property.read', 'event.subscribe'
                      UNION ALL SELECT 'property.write', 'property.write'
                      UNION ALL SELECT 'event.emit', 'event.emit'
                      UNION ALL SELECT 'service.execute', 'service.execute'
                      UNION ALL SELECT 'tunnel.open', 'tunnel.open'
                      UNION ALL SELECT 'file.read', 'file.read'
                      UNION ALL SELECT 'file.write', 'file.write') p ON p.src = g.permission;
`;
