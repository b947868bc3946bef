import type Database from "better-sqlite3";
import type { FileTransferRecord } from "./types.js";

const ACTIVE = "('queued', 'running', 'interrupted')";

/** The file transfer statements of the SQLite registry. */
export class TransferStatements {
  private readonly put: Database.Statement;
  private readonly get: Database.Statement;
  private readonly all: Database.Statement;
  private readonly ofDevice: Database.Statement;
  private readonly active: Database.Statement;
  private readonly activeOfDevice: Database.Statement;

  constructor(db: Database.Database) {
    this.put = db.prepare(
      `INSERT INTO file_transfers (id, device_id, state, created_at, record_json) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT(id) DO UPDATE SET state = excluded.state, record_json = excluded.record_json`,
    );
    this.get = db.prepare("SELECT record_json FROM file_transfers WHERE id = ?");
    const order = "ORDER BY created_at, id LIMIT ?";
    this.all = db.prepare(`SELECT record_json FROM file_transfers ${order}`);
    this.ofDevice = db.prepare(`SELECT record_json FROM file_transfers WHERE device_id = ? ${order}`);
    this.active = db.prepare(`SELECT record_json FROM file_transfers WHERE state IN ${ACTIVE} ${order}`);
    this.activeOfDevice = db.prepare(
      `SELECT record_json FROM file_transfers WHERE device_id = ? AND state IN ${ACTIVE} ${order}`,
    );
  }

  putTransfer(r: FileTransferRecord): void {
    this.put.run(r.id, r.deviceId, r.state, r.createdAt, JSON.stringify(r));
  }

  getTransfer(id: string): FileTransferRecord | undefined {
    const row = this.get.get(id) as { record_json: string } | undefined;
    return row && (JSON.parse(row.record_json) as FileTransferRecord);
  }

  listTransfers(filter: { deviceId?: string; active?: boolean; limit?: number } = {}): FileTransferRecord[] {
    const limit = filter.limit ?? 1000;
    const rows = (
      filter.deviceId === undefined
        ? (filter.active ? this.active : this.all).all(limit)
        : (filter.active ? this.activeOfDevice : this.ofDevice).all(filter.deviceId, limit)
    ) as { record_json: string }[];
    return rows.map((r) => JSON.parse(r.record_json) as FileTransferRecord);
  }
}
