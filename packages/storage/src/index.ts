/**
 * @lathe/storage: the SQLite (embedded default) and Postgres backends of Lathe's storage ports.
 *
 * @since 0.1.0
 */
export * as SqliteClient from "./SqliteClient.js"
