/** Test layers: the rag services on a private in-memory SQLite database, or on a Postgres URL. */
import { NodeContext } from "@effect/platform-node"
import type * as SqlClient from "@effect/sql/SqlClient"
import type { Indexer, Retriever as Port } from "@lathe/core"
import { PgStorage, SqliteClient } from "@lathe/storage"
import { Layer, Redacted } from "effect"
import * as CodeIndex from "../src/CodeIndex.js"
import * as ContextComposer from "../src/ContextComposer.js"
import * as Retriever from "../src/Retriever.js"

export const sqliteMemory: Layer.Layer<SqlClient.SqlClient, unknown> = SqliteClient.layer({
  filename: SqliteClient.memory
}).pipe(Layer.provide(NodeContext.layer), Layer.fresh)

export const postgres = (url: string): Layer.Layer<SqlClient.SqlClient, unknown> =>
  PgStorage.layerClient({ url: Redacted.make(url), maxConnections: 2 })

/** Index, retriever and composer on the given database. */
export const ragLayer = (
  database: Layer.Layer<SqlClient.SqlClient, unknown>,
  options: { readonly index?: CodeIndex.Options; readonly retriever?: Retriever.Options } = {}
): Layer.Layer<
  Port.ContextComposer | Port.Retriever | Retriever.RagRetriever | Indexer.Indexer | CodeIndex.RagIndex,
  unknown
> =>
  ContextComposer.layer().pipe(
    Layer.provideMerge(Retriever.layer(options.retriever)),
    Layer.provideMerge(CodeIndex.layer(options.index)),
    Layer.provide(database)
  )
