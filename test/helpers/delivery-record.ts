import { join } from "node:path";
import Database from "better-sqlite3";

/** The server's record of what it applied for one device queue epoch, read from its registry file. */
export function appliedRuns(dataDir: string, deviceId: string, epoch: number): [number, number][] {
  const db = new Database(join(dataDir, "registry.db"), { readonly: true, fileMustExist: true });
  try {
    const row = db
      .prepare("SELECT runs_json FROM delivery_epochs WHERE device_id = ? AND epoch = ?")
      .get(deviceId, epoch) as { runs_json: string } | undefined;
    return row ? (JSON.parse(row.runs_json) as [number, number][]) : [];
  } finally {
    db.close();
  }
}
