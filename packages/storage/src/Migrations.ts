/**
 * Versioned schema migrations for SQLite and Postgres, run automatically when a storage layer starts.
 *
 * Migrations are numbered and append-only: never edit one that has shipped; add the next number. Each
 * migration has a SQLite and a Postgres form. Running them is safe from several processes at once
 * (Postgres locks the migrations table; on SQLite the second runner finds them applied).
 *
 * @since 0.1.0
 */
import * as Migrator from "@effect/sql/Migrator"
import * as SqlClient from "@effect/sql/SqlClient"
import { Effect } from "effect"

type Dialect = "sqlite" | "pg"

/** One migration: its DDL per dialect. @since 0.1.0 */
export interface Migration {
  readonly id: number
  readonly name: string
  readonly statements: (dialect: Dialect) => ReadonlyArray<string>
}

const ts = (dialect: Dialect) => (dialect === "pg" ? "BIGINT" : "INTEGER")

/** Every migration, in order. @since 0.1.0 */
export const migrations: ReadonlyArray<Migration> = [
  {
    id: 1,
    name: "initial",
    statements: (d) => [
      `CREATE TABLE lathe_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)`,
      `INSERT INTO lathe_meta (key, value) VALUES ('write_lock', '0')`,
      `CREATE TABLE sessions (
        id TEXT PRIMARY KEY,
        created_at ${ts(d)} NOT NULL,
        updated_at ${ts(d)} NOT NULL,
        title TEXT NOT NULL,
        status TEXT NOT NULL
      )`,
      `CREATE INDEX sessions_status ON sessions (status, id)`,
      `CREATE TABLE messages (
        id TEXT PRIMARY KEY,
        session_id TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
        role TEXT NOT NULL,
        content TEXT NOT NULL,
        metadata TEXT NOT NULL,
        created_at ${ts(d)} NOT NULL
      )`,
      `CREATE INDEX messages_session ON messages (session_id, id)`,
      `CREATE TABLE jobs (
        id TEXT PRIMARY KEY,
        session_id TEXT REFERENCES sessions (id) ON DELETE CASCADE,
        type TEXT NOT NULL,
        state TEXT NOT NULL,
        input TEXT NOT NULL,
        output TEXT,
        error TEXT,
        created_at ${ts(d)} NOT NULL,
        updated_at ${ts(d)} NOT NULL,
        parent_job_id TEXT REFERENCES jobs (id) ON DELETE SET NULL,
        idempotency_key TEXT,
        attempt INTEGER NOT NULL,
        max_attempts INTEGER NOT NULL,
        run_at ${ts(d)} NOT NULL,
        lease_owner TEXT,
        lease_expires_at ${ts(d)},
        affinity TEXT,
        priority INTEGER NOT NULL,
        last_event_seq INTEGER NOT NULL DEFAULT 0
      )`,
      `CREATE UNIQUE INDEX jobs_idempotency ON jobs (COALESCE(session_id, ''), type, idempotency_key)
        WHERE idempotency_key IS NOT NULL`,
      `CREATE INDEX jobs_claim ON jobs (state, run_at, priority)`,
      `CREATE INDEX jobs_session ON jobs (session_id, id)`,
      `CREATE INDEX jobs_parent ON jobs (parent_job_id)`,
      `CREATE TABLE tasks (
        id TEXT PRIMARY KEY,
        job_id TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
        name TEXT NOT NULL,
        state TEXT NOT NULL,
        logs TEXT NOT NULL,
        started_at ${ts(d)} NOT NULL,
        finished_at ${ts(d)},
        attempt INTEGER NOT NULL,
        output TEXT,
        UNIQUE (job_id, name)
      )`,
      `CREATE TABLE artifacts (
        id TEXT PRIMARY KEY,
        job_id TEXT REFERENCES jobs (id) ON DELETE SET NULL,
        type TEXT NOT NULL,
        uri TEXT NOT NULL,
        size ${ts(d)} NOT NULL,
        metadata TEXT NOT NULL,
        created_at ${ts(d)} NOT NULL
      )`,
      `CREATE INDEX artifacts_job ON artifacts (job_id, id)`,
      `CREATE TABLE sandboxes (
        id TEXT PRIMARY KEY,
        session_id TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
        sandbox_id TEXT NOT NULL,
        url TEXT,
        status TEXT NOT NULL,
        last_seen_at ${ts(d)} NOT NULL,
        provider TEXT NOT NULL,
        node_id TEXT
      )`,
      `CREATE INDEX sandboxes_session ON sandboxes (session_id, id)`,
      `CREATE TABLE tool_runs (
        id TEXT PRIMARY KEY,
        job_id TEXT REFERENCES jobs (id) ON DELETE SET NULL,
        tool TEXT NOT NULL,
        input TEXT NOT NULL,
        output TEXT,
        error TEXT,
        created_at ${ts(d)} NOT NULL,
        duration_ms DOUBLE PRECISION,
        idempotency_key TEXT UNIQUE
      )`,
      `CREATE INDEX tool_runs_job ON tool_runs (job_id, id)`,
      `CREATE TABLE checkpoints (
        id TEXT PRIMARY KEY,
        session_id TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
        label TEXT NOT NULL,
        snapshot_ref TEXT NOT NULL,
        created_at ${ts(d)} NOT NULL
      )`,
      `CREATE INDEX checkpoints_session ON checkpoints (session_id, id)`,
      `CREATE TABLE timeline_events (
        id TEXT PRIMARY KEY,
        session_id TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
        job_id TEXT REFERENCES jobs (id) ON DELETE SET NULL,
        kind TEXT NOT NULL,
        payload TEXT NOT NULL,
        created_at ${ts(d)} NOT NULL
      )`,
      `CREATE INDEX timeline_session ON timeline_events (session_id, id)`,
      `CREATE TABLE blobs (
        hash TEXT PRIMARY KEY,
        size ${ts(d)} NOT NULL,
        data ${d === "pg" ? "BYTEA" : "BLOB"} NOT NULL
      )`,
      `CREATE TABLE job_events (
        job_id TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
        seq INTEGER NOT NULL,
        type TEXT NOT NULL,
        payload TEXT NOT NULL,
        created_at ${ts(d)} NOT NULL,
        PRIMARY KEY (job_id, seq)
      )`
    ]
  },
  {
    id: 2,
    name: "checkpoint_pins_and_blob_gc",
    statements: (d) => [
      `ALTER TABLE checkpoints ADD COLUMN pinned INTEGER NOT NULL DEFAULT 0`,
      `CREATE TABLE blob_gc_candidates (
        hash TEXT PRIMARY KEY,
        first_seen ${ts(d)} NOT NULL
      )`
    ]
  }
]

/**
 * Applies every migration the database does not have yet; returns the ones it applied.
 *
 * @since 0.1.0
 */
export const run = Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  const dialect: Dialect = sql.onDialectOrElse({ pg: () => "pg" as const, orElse: () => "sqlite" as const })
  const loader = Migrator.fromRecord(
    Object.fromEntries(
      migrations.map((migration) => [
        `${migration.id}_${migration.name}`,
        Effect.forEach(migration.statements(dialect), (statement) => sql.unsafe(statement), { discard: true })
      ])
    )
  )
  return yield* Migrator.make({})({ loader, table: "lathe_migrations" })
}).pipe(Effect.withSpan("Migrations.run"))
