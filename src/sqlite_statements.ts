/**
 * Prepared statements kept for a database's life, one per SQL text: preparing costs a parse each time, and every
 * statement holds native memory until the garbage collector finalizes it, which a small heap seldom does — a daemon
 * preparing per call grows by megabytes per hundred jobs.
 */
import type { DatabaseSync, StatementSync } from "node:sqlite";

/** Returns `prepare(sql)`, which prepares each SQL text once on `db`. */
export function statementCache(db: DatabaseSync): (sql: string) => StatementSync {
  const statements = new Map<string, StatementSync>();
  return (sql) => {
    let stmt = statements.get(sql);
    if (!stmt) {
      stmt = db.prepare(sql);
      statements.set(sql, stmt);
    }
    return stmt;
  };
}
