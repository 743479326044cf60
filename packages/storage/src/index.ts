/**
 * @lathe/storage: the SQLite (embedded default) and Postgres backends of Lathe's storage ports.
 *
 * @since 0.1.0
 */
export * as Copy from "./Copy.js"
export * as FsBlobStore from "./FsBlobStore.js"
export * as Migrations from "./Migrations.js"
export * as PgEventBus from "./PgEventBus.js"
export * as PgStorage from "./PgStorage.js"
export * as SqlBlobStore from "./SqlBlobStore.js"
export * as SqliteClient from "./SqliteClient.js"
export * as SqliteStorage from "./SqliteStorage.js"
export * as SqlStores from "./SqlStores.js"
export * as Storage from "./Storage.js"
