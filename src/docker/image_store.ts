/**
 * The images this agent pulled, and when each was last used: a table in the agent's SQLite database
 * (`DATA_DIR/journal.db`), so garbage collection after a restart still knows what is its own to remove.
 */
import { DatabaseSync, type StatementSync } from "node:sqlite";
import { statementCache } from "../sqlite_statements.ts";
import { dirname } from "node:path";

/** One image reference the agent pulled. */
export interface ImageRecord {
  /** The reference as pulled, canonical (`docker.io/library/busybox:1.36`, `host:5000/x@sha256:…`). */
  ref: string;
  /** The image id (`sha256:…`) the reference named when last seen. */
  imageId: string;
  /** Its size as the daemon reports it (`Size`), in bytes. */
  sizeBytes: number;
  pulledAt: number;
  lastUsedAt: number;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS images (
  ref TEXT PRIMARY KEY,
  image_id TEXT NOT NULL,
  size_bytes INTEGER NOT NULL,
  pulled_at INTEGER NOT NULL,
  last_used_at INTEGER NOT NULL
);
`;

/** Persistent records of pulled images; `:memory:` for tests of logic. */
export class ImageStore implements Disposable {
  #db: DatabaseSync;
  #stmt: (sql: string) => StatementSync;
  #open = true;

  private constructor(db: DatabaseSync) {
    this.#db = db;
    this.#stmt = statementCache(db);
  }

  /** Opens (creating if needed) the `images` table in the database at `path`. */
  static open(path: string): ImageStore {
    if (path !== ":memory:") Deno.mkdirSync(dirname(path), { recursive: true });
    const db = new DatabaseSync(path);
    db.exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=5000;");
    db.exec(SCHEMA);
    return new ImageStore(db);
  }

  /** Records a pull (or a re-pull) of `ref`. */
  pulled(record: ImageRecord): void {
    this.#stmt(
      `INSERT INTO images (ref, image_id, size_bytes, pulled_at, last_used_at) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT(ref) DO UPDATE SET image_id = excluded.image_id, size_bytes = excluded.size_bytes,
         pulled_at = excluded.pulled_at, last_used_at = excluded.last_used_at`,
    ).run(record.ref, record.imageId, record.sizeBytes, record.pulledAt, record.lastUsedAt);
  }

  /** Marks `ref` used at `at` (a no-op for references the agent did not pull). */
  used(ref: string, at: number, imageId?: string): void {
    if (imageId) {
      this.#stmt("UPDATE images SET last_used_at = ?, image_id = ? WHERE ref = ?").run(at, imageId, ref);
    } else {
      this.#stmt("UPDATE images SET last_used_at = ? WHERE ref = ?").run(at, ref);
    }
  }

  /** The record of `ref`, if the agent pulled it. */
  get(ref: string): ImageRecord | undefined {
    const row = this.#stmt("SELECT * FROM images WHERE ref = ?").get(ref);
    return row ? toRecord(row as Record<string, unknown>) : undefined;
  }

  /** Every record, least recently used first. */
  all(): ImageRecord[] {
    return this.#stmt("SELECT * FROM images ORDER BY last_used_at, ref").all().map((r) =>
      toRecord(r as Record<string, unknown>)
    );
  }

  /** Forgets `ref` (removed, or gone from the daemon). */
  remove(ref: string): void {
    this.#stmt("DELETE FROM images WHERE ref = ?").run(ref);
  }

  close(): void {
    if (!this.#open) return;
    this.#open = false;
    this.#db.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

function toRecord(row: Record<string, unknown>): ImageRecord {
  return {
    ref: String(row.ref),
    imageId: String(row.image_id),
    sizeBytes: Number(row.size_bytes),
    pulledAt: Number(row.pulled_at),
    lastUsedAt: Number(row.last_used_at),
  };
}
