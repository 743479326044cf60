/**
 * The code index: implements the core `Indexer` port over the `@effect/sql` `SqlClient` the host's storage
 * provides (SQLite or Postgres), and gives the retriever its search primitives ({@link RagIndex}).
 *
 * - Rag owns its tables (`rag_meta`, `rag_scopes`, `rag_files`, `rag_chunks`, and on SQLite the FTS5 table
 *   `rag_chunks_fts`), created idempotently when the layer starts, with a schema version row.
 * - Incremental by content hash: unchanged files are skipped, a changed file is re-chunked alone, and
 *   `complete: true` removes indexed files that are not in the given set.
 * - Identifiers are split before indexing (`HeroSection` → `hero section herosection`) into four weighted
 *   columns: name, path, literals (JSX text, string literals, class names, routes) and body. SQLite ranks with
 *   FTS5 `bm25()`, Postgres with `ts_rank_cd` over a `setweight` A/B/C/D `tsvector` (GIN index).
 * - Optional vectors: with an `Embedder`, every chunk gets a Float32 vector; similarity is brute-force
 *   cosine over the scope's vectors (cached in memory per index generation), on both backends.
 *
 * ```ts
 * const RagLive = Index.layer().pipe(Layer.provide(StorageLive)) // StorageLive provides SqlClient
 * ```
 *
 * @since 0.1.0
 */
import { createHash } from "node:crypto"
import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import { Errors, Indexer } from "@lathe/core"
import { Clock, Context, Effect, Layer, Option, Predicate, Ref } from "effect"
import * as Chunker from "./Chunker.js"
import * as Embeddings from "./Embeddings.js"
import { pathTokens, stem, tokenize } from "./Tokenizer.js"

/**
 * The schema version this code writes. A database with a newer version is refused.
 *
 * @since 0.1.0
 */
export const schemaVersion = 1

/**
 * Index settings.
 *
 * @since 0.1.0
 */
export interface Options {
  /** Turns vectors on (off when absent). */
  readonly embedder?: Embeddings.Embedder
  readonly chunker?: Chunker.Options
  /** Files larger than this are not indexed (default 512 KiB). */
  readonly maxFileBytes?: number
  /** Paths never indexed (default: lockfiles, `node_modules/`, build output, minified files, source maps). */
  readonly ignore?: (path: string) => boolean
}

/** The default ignore rule. @since 0.1.0 */
export const defaultIgnore = (path: string): boolean =>
  /(?:^|\/)(?:node_modules|\.git|dist|build|coverage|\.next|\.turbo)\//.test(path) ||
  /(?:^|\/)(?:package-lock\.json|pnpm-lock\.yaml|yarn\.lock|bun\.lockb?|npm-shrinkwrap\.json)$/.test(path) ||
  /\.(?:min\.js|min\.css|map|png|jpe?g|gif|webp|ico|svg|woff2?|ttf|eot|mp4|pdf|zip)$/i.test(path)

/** A file's summary, as the retriever's graph and name channels need it. @since 0.1.0 */
export interface FileMeta {
  /** Declarations in the file. */
  readonly names: ReadonlyArray<{
    readonly name: string
    readonly kind: Indexer.ChunkKind
    readonly exported: boolean
  }>
  /** Resolved import targets (see `Chunker.resolveImport`). */
  readonly imports: ReadonlyArray<string>
  readonly bindings: Readonly<Record<string, string>>
  readonly renders: ReadonlyArray<string>
  readonly routes: ReadonlyArray<Chunker.RouteInfo>
  /** How many string literals look like app links (`"/settings/profile"`): navigation data. */
  readonly links?: number
}

/** An indexed file. @since 0.1.0 */
export interface FileInfo {
  readonly path: string
  readonly hash: string
  readonly size: number
  /** The index generation in which the file was last (re)indexed: higher is more recent. */
  readonly version: number
  readonly chunks: number
  readonly meta: FileMeta
}

/** Relative weights of the search columns. @since 0.1.0 */
export interface ColumnWeights {
  readonly name: number
  readonly path: number
  readonly literals: number
  readonly body: number
}

/** @since 0.1.0 */
export const defaultColumnWeights: ColumnWeights = { name: 4, path: 2.5, literals: 3, body: 1 }

/** A chunk found by a search, with its score (higher is better). @since 0.1.0 */
export interface ChunkHit {
  readonly id: string
  readonly path: string
  readonly score: number
}

type IndexerService = Indexer.Indexer["Type"]

/**
 * What the retriever and the context composer use, beside the `Indexer` port.
 *
 * @since 0.1.0
 */
export interface Service extends IndexerService {
  readonly backend: "sqlite" | "postgres"
  /** Set when vectors are on. */
  readonly embedder: Embeddings.Embedder | undefined
  /** Bumped by every pass that changed the scope (0 for an empty scope). */
  readonly generation: (scope: string) => Effect.Effect<number, Errors.StorageError>
  /** Every indexed file of the scope (cached per generation). */
  readonly files: (scope: string) => Effect.Effect<ReadonlyArray<FileInfo>, Errors.StorageError>
  /** Full-text search with already split, meaningful query tokens; best first. */
  readonly search: (
    scope: string,
    tokens: ReadonlyArray<string>,
    limit: number,
    weights?: ColumnWeights
  ) => Effect.Effect<ReadonlyArray<ChunkHit>, Errors.StorageError>
  /** Chunks whose text contains `phrase` (case-insensitive), at most `limit`. */
  readonly searchPhrase: (
    scope: string,
    phrase: string,
    limit: number
  ) => Effect.Effect<ReadonlyArray<ChunkHit>, Errors.StorageError>
  /** The chunks of the given files, in file and line order. */
  readonly chunks: (
    scope: string,
    paths: ReadonlyArray<string>
  ) => Effect.Effect<ReadonlyArray<Indexer.Chunk>, Errors.StorageError>
  /** Nearest chunks to a vector by cosine similarity (empty when vectors are off). */
  readonly similar: (
    scope: string,
    vector: ReadonlyArray<number>,
    limit: number
  ) => Effect.Effect<ReadonlyArray<ChunkHit>, Errors.StorageError>
}

/**
 * The rag index service (also provided as the core `Indexer`).
 *
 * @since 0.1.0
 */
export class RagIndex extends Context.Tag("@lathe/rag/CodeIndex")<RagIndex, Service>() {}

// ---------------------------------------------------------------------------------------------------------
// SQL helpers
// ---------------------------------------------------------------------------------------------------------

const codeOf = (error: unknown, depth = 0): string | undefined => {
  if (depth > 5 || !Predicate.isObject(error)) return undefined
  if (Predicate.hasProperty(error, "code") && typeof error.code === "string") return error.code
  return Predicate.hasProperty(error, "cause") ? codeOf(error.cause, depth + 1) : undefined
}

const transient = (code: string | undefined): boolean =>
  code !== undefined &&
  (code.startsWith("SQLITE_BUSY") ||
    code === "SQLITE_LOCKED" ||
    code.startsWith("08") ||
    code === "40001" ||
    code === "40P01")

const op =
  (operation: string) =>
  <A, E, R>(
    effect: Effect.Effect<A, E | SqlError, R>
  ): Effect.Effect<A, Exclude<E, SqlError> | Errors.StorageError, R> =>
    effect.pipe(
      Effect.catchSomeDefect((defect) =>
        Predicate.isTagged(defect, "SqlError") ? Option.some(Effect.fail(defect as SqlError)) : Option.none()
      ),
      Effect.catchIf(
        (error): error is SqlError => Predicate.isTagged(error, "SqlError"),
        (error) => {
          const code = codeOf(error)
          return Effect.fail(
            new Errors.StorageError({
              operation,
              retryable: transient(code),
              message: `${operation} failed: ${transient(code) ? "the database is busy or unavailable" : "database error"}${code !== undefined ? ` (${code})` : ""}`
            })
          )
        }
      ),
      Effect.withSpan(operation, { captureStackTrace: false })
    ) as Effect.Effect<A, Exclude<E, SqlError> | Errors.StorageError, R>

const sqliteSchema = [
  `CREATE TABLE IF NOT EXISTS rag_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)`,
  `CREATE TABLE IF NOT EXISTS rag_scopes (scope TEXT PRIMARY KEY, generation INTEGER NOT NULL, settings TEXT NOT NULL)`,
  `CREATE TABLE IF NOT EXISTS rag_files (
    scope TEXT NOT NULL, path TEXT NOT NULL, hash TEXT NOT NULL, size INTEGER NOT NULL, version INTEGER NOT NULL,
    chunks INTEGER NOT NULL, meta TEXT NOT NULL, PRIMARY KEY (scope, path))`,
  `CREATE TABLE IF NOT EXISTS rag_chunks (
    seq INTEGER PRIMARY KEY, scope TEXT NOT NULL, id TEXT NOT NULL, path TEXT NOT NULL, kind TEXT NOT NULL,
    name TEXT NOT NULL, exported INTEGER NOT NULL, start_line INTEGER NOT NULL, end_line INTEGER NOT NULL,
    text TEXT NOT NULL, parent_id TEXT, metadata TEXT NOT NULL, embedding BLOB, embedding_model TEXT,
    UNIQUE (scope, id))`,
  `CREATE INDEX IF NOT EXISTS rag_chunks_scope_path ON rag_chunks (scope, path)`,
  `CREATE VIRTUAL TABLE IF NOT EXISTS rag_chunks_fts USING fts5(
    name, path, literals, body, content = '', contentless_delete = 1, tokenize = 'unicode61')`
]

const pgSchema = [
  `CREATE TABLE IF NOT EXISTS rag_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)`,
  `CREATE TABLE IF NOT EXISTS rag_scopes (scope TEXT PRIMARY KEY, generation INTEGER NOT NULL, settings TEXT NOT NULL)`,
  `CREATE TABLE IF NOT EXISTS rag_files (
    scope TEXT NOT NULL, path TEXT NOT NULL, hash TEXT NOT NULL, size INTEGER NOT NULL, version INTEGER NOT NULL,
    chunks INTEGER NOT NULL, meta TEXT NOT NULL, PRIMARY KEY (scope, path))`,
  `CREATE TABLE IF NOT EXISTS rag_chunks (
    seq BIGSERIAL PRIMARY KEY, scope TEXT NOT NULL, id TEXT NOT NULL, path TEXT NOT NULL, kind TEXT NOT NULL,
    name TEXT NOT NULL, exported INTEGER NOT NULL, start_line INTEGER NOT NULL, end_line INTEGER NOT NULL,
    text TEXT NOT NULL, parent_id TEXT, metadata TEXT NOT NULL, embedding BYTEA, embedding_model TEXT,
    tsv TSVECTOR NOT NULL, UNIQUE (scope, id))`,
  `CREATE INDEX IF NOT EXISTS rag_chunks_scope_path ON rag_chunks (scope, path)`,
  `CREATE INDEX IF NOT EXISTS rag_chunks_tsv ON rag_chunks USING GIN (tsv)`
]

/** Stems every token so both backends (FTS5 `unicode61`, Postgres `simple`) match the same way. */
const stemmed = (tokens: ReadonlyArray<string>, limit = 20_000): string =>
  tokens
    .slice(0, limit)
    .map((token) => stem(token))
    .join(" ")

/** The four weighted search columns of a chunk. */
const searchColumns = (chunk: Indexer.Chunk) => {
  const metadata = Chunker.metadataOf(chunk)
  return {
    name: stemmed(tokenize(chunk.name)),
    path: stemmed(pathTokens(chunk.path)),
    literals: stemmed(
      tokenize(
        [
          ...metadata.jsxText,
          ...metadata.literals,
          ...metadata.classNames,
          ...metadata.routes.map((route) => route.path)
        ].join(" ")
      )
    ),
    body: stemmed(tokenize(chunk.text))
  }
}

const fileMetaOf = (chunks: ReadonlyArray<Indexer.Chunk>): FileMeta => {
  const names: Array<FileMeta["names"][number]> = []
  const imports = new Set<string>()
  const renders = new Set<string>()
  const routes: Array<Chunker.RouteInfo> = []
  let bindings: Record<string, string> = {}
  let links = 0
  for (const chunk of chunks) {
    const metadata = Chunker.metadataOf(chunk)
    links += metadata.literals.filter((literal) => /^\/[a-z0-9][a-z0-9\-/]*$/i.test(literal)).length
    if (
      chunk.parentId === null &&
      chunk.kind !== "header" &&
      chunk.kind !== "css-rule" &&
      chunk.kind !== "section"
    )
      names.push({ name: chunk.name, kind: chunk.kind, exported: chunk.exported })
    for (const target of metadata.imports) imports.add(target)
    for (const name of metadata.renders) renders.add(name)
    routes.push(...metadata.routes)
    if (Object.keys(metadata.bindings).length > 0) bindings = { ...bindings, ...metadata.bindings }
  }
  return { names, imports: [...imports], bindings, renders: [...renders], routes, links }
}

const sha256 = (text: string): string => createHash("sha256").update(text).digest("hex")

const validationError = (message: string, field: string, problem: string) =>
  new Errors.ValidationError({ message, fields: { [field]: problem } })

const checkPath = (path: string): string | undefined => {
  if (path === "") return "empty path"
  if (path.startsWith("/") || /^[A-Za-z]:[\\/]/.test(path))
    return "absolute path (expected a path relative to the app root)"
  if (path.includes("\0")) return "path contains a NUL byte"
  if (path.includes("\\")) return "backslash in path (expected POSIX separators)"
  if (path.split("/").some((part) => part === ".." || part === "." || part === ""))
    return "path has '.', '..' or empty segments"
  return undefined
}

const checkScope = (scope: string): Errors.ValidationError | undefined =>
  scope.trim() === "" || scope.length > 200
    ? validationError(
        "an index scope must be a non-empty name of at most 200 characters",
        "scope",
        "invalid scope"
      )
    : undefined

interface ScopeSettings {
  readonly paths?: Record<string, Array<string>>
  readonly baseUrl?: string
}

const tsconfigNames = /(?:^|\/)(?:tsconfig(?:\.app)?|jsconfig)\.json$/

const batches = <A>(items: ReadonlyArray<A>, size: number): Array<ReadonlyArray<A>> => {
  const out: Array<ReadonlyArray<A>> = []
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size))
  return out
}

interface ChunkRow {
  readonly id: string
  readonly path: string
  readonly kind: string
  readonly name: string
  readonly exported: number | string
  readonly start_line: number | string
  readonly end_line: number | string
  readonly text: string
  readonly parent_id: string | null
  readonly metadata: string
}

const toChunk = (row: ChunkRow): Indexer.Chunk => ({
  id: row.id,
  path: row.path,
  kind: row.kind as Indexer.ChunkKind,
  name: row.name,
  exported: Number(row.exported) === 1,
  startLine: Number(row.start_line),
  endLine: Number(row.end_line),
  text: row.text,
  parentId: row.parent_id,
  metadata: JSON.parse(row.metadata)
})

const toBytes = (value: unknown): Uint8Array | undefined => (value instanceof Uint8Array ? value : undefined)

// ---------------------------------------------------------------------------------------------------------
// The service
// ---------------------------------------------------------------------------------------------------------

/**
 * Builds the index on the `SqlClient` in context, creating rag's tables when missing.
 *
 * @since 0.1.0
 */
export const make = Effect.fn("CodeIndex.make")(function* (options: Options = {}) {
  const sql = yield* SqlClient.SqlClient
  const backend = sql.onDialectOrElse({ pg: () => "postgres" as const, orElse: () => "sqlite" as const })
  const pg = backend === "postgres"
  const embedder = options.embedder
  const maxFileBytes = options.maxFileBytes ?? 512 * 1024
  const ignore = options.ignore ?? defaultIgnore

  // Schema: idempotent, serialized between nodes on Postgres by an advisory lock.
  yield* Effect.gen(function* () {
    if (pg) yield* sql`SELECT pg_advisory_xact_lock(hashtext('lathe_rag_schema'))`
    for (const statement of pg ? pgSchema : sqliteSchema) yield* sql.unsafe(statement)
    yield* sql`INSERT INTO rag_meta (key, value) VALUES ('schema_version', ${String(schemaVersion)})
      ON CONFLICT (key) DO NOTHING`
    const rows = yield* sql<{
      readonly value: string
    }>`SELECT value FROM rag_meta WHERE key = 'schema_version'`
    const found = Number(rows[0]?.value ?? schemaVersion)
    if (found > schemaVersion)
      return yield* new Errors.StorageError({
        operation: "CodeIndex.migrate",
        retryable: false,
        message: `the rag index schema in this database is version ${found}, newer than this code's ${schemaVersion}; upgrade @lathe/rag`
      })
  }).pipe(sql.withTransaction, op("CodeIndex.migrate"))

  // Index passes in this process run one at a time, so two passes over one scope never race on its rows.
  const writeLock = yield* Effect.makeSemaphore(1)
  const cache = yield* Ref.make(
    new Map<string, { readonly generation: number; readonly files: ReadonlyArray<FileInfo> }>()
  )
  const vectorCache = yield* Ref.make(
    new Map<
      string,
      {
        readonly generation: number
        readonly vectors: ReadonlyArray<{ id: string; path: string; vector: Float32Array }>
      }
    >()
  )

  const generation = (scope: string) =>
    sql<{
      readonly generation: number | string
    }>`SELECT generation FROM rag_scopes WHERE scope = ${scope}`.pipe(
      Effect.map((rows) => Number(rows[0]?.generation ?? 0)),
      op("CodeIndex.generation")
    )

  const settingsOf = (scope: string) =>
    sql<{ readonly settings: string }>`SELECT settings FROM rag_scopes WHERE scope = ${scope}`.pipe(
      Effect.map(
        (rows): ScopeSettings =>
          rows[0] === undefined ? {} : (JSON.parse(rows[0].settings) as ScopeSettings)
      ),
      op("CodeIndex.settings")
    )

  const deleteChunksOf = (scope: string, paths: ReadonlyArray<string>) =>
    Effect.forEach(
      batches(paths, 400),
      (batch) =>
        Effect.gen(function* () {
          if (!pg)
            yield* sql`DELETE FROM rag_chunks_fts WHERE rowid IN
              (SELECT seq FROM rag_chunks WHERE scope = ${scope} AND ${sql.in("path", batch)})`
          yield* sql`DELETE FROM rag_chunks WHERE scope = ${scope} AND ${sql.in("path", batch)}`
        }),
      { discard: true }
    )

  const insertChunks = (
    scope: string,
    chunks: ReadonlyArray<Indexer.Chunk>,
    vectors: ReadonlyMap<string, ReadonlyArray<number>>
  ) =>
    Effect.forEach(
      batches(chunks, 100),
      (batch) =>
        Effect.gen(function* () {
          const columns = batch.map(searchColumns)
          const values = batch.map((chunk, i) => {
            const vector = vectors.get(chunk.id)
            const embedding = vector === undefined ? null : Embeddings.toBytes(vector)
            const model = vector === undefined || embedder === undefined ? null : embedder.model
            const base = sql`${scope}, ${chunk.id}, ${chunk.path}, ${chunk.kind}, ${chunk.name}, ${chunk.exported ? 1 : 0},
              ${chunk.startLine}, ${chunk.endLine}, ${chunk.text}, ${chunk.parentId}, ${JSON.stringify(chunk.metadata)},
              ${embedding}, ${model}`
            if (!pg) return sql`(${base})`
            const c = columns[i]!
            return sql`(${base}, setweight(to_tsvector('simple', ${c.name}), 'A') ||
              setweight(to_tsvector('simple', ${c.path}), 'B') || setweight(to_tsvector('simple', ${c.literals}), 'C') ||
              setweight(to_tsvector('simple', ${c.body}), 'D'))`
          })
          const list = sql.join(", ", false)(values)
          if (pg) {
            yield* sql`INSERT INTO rag_chunks (scope, id, path, kind, name, exported, start_line, end_line, text,
              parent_id, metadata, embedding, embedding_model, tsv) VALUES ${list}`
            return
          }
          const inserted = yield* sql<{ readonly seq: number; readonly id: string }>`INSERT INTO rag_chunks
            (scope, id, path, kind, name, exported, start_line, end_line, text, parent_id, metadata, embedding,
            embedding_model) VALUES ${list} RETURNING seq, id`
          const seqOf = new Map(inserted.map((row) => [row.id, Number(row.seq)]))
          const fts = batch.map((chunk, i) => {
            const c = columns[i]!
            return sql`(${seqOf.get(chunk.id)!}, ${c.name}, ${c.path}, ${c.literals}, ${c.body})`
          })
          yield* sql`INSERT INTO rag_chunks_fts (rowid, name, path, literals, body) VALUES ${sql.join(", ", false)(fts)}`
        }),
      { discard: true }
    )

  const embedChunks = (chunks: ReadonlyArray<Indexer.Chunk>) =>
    embedder === undefined || chunks.length === 0
      ? Effect.succeed(new Map<string, ReadonlyArray<number>>())
      : Effect.forEach(batches(chunks, 64), (batch) =>
          embedder
            .embed(batch.map((chunk) => `${chunk.path}\n${chunk.name}\n${chunk.text}`.slice(0, 8000)))
            .pipe(Effect.map((vectors) => batch.map((chunk, i) => [chunk.id, vectors[i] ?? []] as const)))
        ).pipe(
          Effect.map((pairs) => new Map(pairs.flat())),
          Effect.catchAll((error) =>
            Effect.logWarning("rag: embedding failed; these chunks are indexed without vectors for now").pipe(
              Effect.annotateLogs({ error: error.message }),
              Effect.as(new Map<string, ReadonlyArray<number>>())
            )
          )
        )

  /** Embeds chunks that have no vector (an earlier embedding call failed, or vectors were just turned on). */
  const backfillVectors = (scope: string) =>
    Effect.gen(function* () {
      if (embedder === undefined) return 0
      const rows = yield* sql<
        ChunkRow & { readonly seq: number | string }
      >`SELECT seq, id, path, kind, name, exported,
        start_line, end_line, text, parent_id, metadata FROM rag_chunks
        WHERE scope = ${scope} AND (embedding IS NULL OR embedding_model IS NULL OR embedding_model <> ${embedder.model})
        LIMIT 2000`.pipe(op("CodeIndex.backfill"))
      if (rows.length === 0) return 0
      const vectors = yield* embedChunks(rows.map(toChunk))
      if (vectors.size === 0) return 0
      yield* Effect.forEach(
        rows,
        (row) => {
          const vector = vectors.get(row.id)
          return vector === undefined
            ? Effect.void
            : Effect.asVoid(
                sql`UPDATE rag_chunks SET embedding = ${Embeddings.toBytes(vector)}, embedding_model = ${embedder.model}
                  WHERE seq = ${row.seq}`
              )
        },
        { discard: true }
      ).pipe(
        // New vectors are a change of the scope: caches keyed on the generation must reload.
        Effect.zipRight(sql`UPDATE rag_scopes SET generation = generation + 1 WHERE scope = ${scope}`),
        sql.withTransaction,
        op("CodeIndex.backfill")
      )
      return vectors.size
    })

  const index: Service["index"] = (scope, files, indexOptions) =>
    Effect.gen(function* () {
      const started = yield* Clock.currentTimeMillis
      const scopeProblem = checkScope(scope)
      if (scopeProblem !== undefined) return yield* scopeProblem
      const seen = new Set<string>()
      for (const [i, file] of files.entries()) {
        const problem = checkPath(file.path)
        if (problem !== undefined)
          return yield* validationError(`cannot index '${file.path}': ${problem}`, `files.${i}.path`, problem)
        if (seen.has(file.path))
          return yield* validationError(`'${file.path}' is listed twice`, `files.${i}.path`, "duplicate path")
        seen.add(file.path)
      }
      const wanted = files.filter(
        (file) =>
          !ignore(file.path) &&
          Buffer.byteLength(file.content, "utf8") <= maxFileBytes &&
          !file.content.includes("\0")
      )
      const existingRows = yield* sql<{
        readonly path: string
        readonly hash: string
      }>`SELECT path, hash FROM rag_files
        WHERE scope = ${scope}`.pipe(op("CodeIndex.index"))
      const existing = new Map(existingRows.map((row) => [row.path, row.hash]))

      // tsconfig `paths` decide how imports resolve; when they change, every file is re-chunked.
      let settings = yield* settingsOf(scope)
      const config = wanted.find((file) => tsconfigNames.test(file.path) && file.content.includes('"paths"'))
      let settingsChanged = false
      if (config !== undefined) {
        const next = Chunker.pathsFromTsconfig(config.path, config.content)
        if (JSON.stringify(next) !== JSON.stringify(settings)) {
          settings = next
          settingsChanged = existing.size > 0
        }
      }
      const chunkerOptions: Chunker.Options = {
        ...options.chunker,
        ...(settings.paths !== undefined ? { paths: settings.paths } : {}),
        ...(settings.baseUrl !== undefined ? { baseUrl: settings.baseUrl } : {})
      }

      const hashed = wanted.map((file) => ({ file, hash: sha256(file.content) }))
      const changed = hashed.filter(({ file, hash }) => settingsChanged || existing.get(file.path) !== hash)
      const wantedPaths = new Set(wanted.map((file) => file.path))
      const removed =
        indexOptions?.complete === true ? [...existing.keys()].filter((path) => !wantedPaths.has(path)) : []

      const chunked = changed.map(({ file, hash }) => ({
        file,
        hash,
        chunks: Chunker.chunkFile(file, chunkerOptions)
      }))
      const allChunks = chunked.flatMap((entry) => entry.chunks)
      const vectors = yield* embedChunks(allChunks)

      if (changed.length > 0 || removed.length > 0) {
        yield* Effect.gen(function* () {
          const [row] = yield* sql<{
            readonly generation: number | string
          }>`INSERT INTO rag_scopes (scope, generation, settings)
            VALUES (${scope}, 1, ${JSON.stringify(settings)})
            ON CONFLICT (scope) DO UPDATE SET generation = rag_scopes.generation + 1, settings = excluded.settings
            RETURNING generation`
          const version = Number(row?.generation ?? 1)
          yield* deleteChunksOf(scope, [
            ...changed.map(({ file }) => file.path).filter((path) => existing.has(path)),
            ...removed
          ])
          for (const batch of batches(removed, 400))
            yield* sql`DELETE FROM rag_files WHERE scope = ${scope} AND ${sql.in("path", batch)}`
          yield* insertChunks(scope, allChunks, vectors)
          for (const batch of batches(chunked, 100)) {
            const rows = batch.map(
              ({ file, hash, chunks }) =>
                sql`(${scope}, ${file.path}, ${hash}, ${Buffer.byteLength(file.content, "utf8")}, ${version},
                  ${chunks.length}, ${JSON.stringify(fileMetaOf(chunks))})`
            )
            yield* sql`INSERT INTO rag_files (scope, path, hash, size, version, chunks, meta) VALUES ${sql.join(", ", false)(rows)}
              ON CONFLICT (scope, path) DO UPDATE SET hash = excluded.hash, size = excluded.size,
              version = excluded.version, chunks = excluded.chunks, meta = excluded.meta`
          }
        }).pipe(sql.withTransaction, op("CodeIndex.index"))
      }
      yield* backfillVectors(scope)

      const added = changed.filter(({ file }) => !existing.has(file.path)).length
      const finished = yield* Clock.currentTimeMillis
      const stats: Indexer.IndexStats = {
        files: wanted.length,
        added,
        updated: changed.length - added,
        unchanged: wanted.length - changed.length,
        removed: removed.length,
        chunks: allChunks.length,
        durationMs: finished - started
      }
      yield* Effect.annotateCurrentSpan({
        "rag.scope": scope,
        "rag.changed": changed.length,
        "rag.removed": removed.length
      })
      return stats
    }).pipe(
      writeLock.withPermits(1),
      Effect.withSpan("CodeIndex.index", { attributes: { "rag.scope": scope, "rag.files": files.length } })
    )

  const remove: Service["remove"] = (scope, paths) =>
    Effect.gen(function* () {
      if (paths.length === 0) return 0
      const present = yield* sql<{ readonly path: string }>`SELECT path FROM rag_files WHERE scope = ${scope}
        AND ${sql.in("path", paths)}`
      if (present.length === 0) return 0
      const list = present.map((row) => row.path)
      yield* sql`UPDATE rag_scopes SET generation = generation + 1 WHERE scope = ${scope}`
      yield* deleteChunksOf(scope, list)
      for (const batch of batches(list, 400))
        yield* sql`DELETE FROM rag_files WHERE scope = ${scope} AND ${sql.in("path", batch)}`
      return list.length
    }).pipe(sql.withTransaction, op("CodeIndex.remove"))

  const clear: Service["clear"] = (scope) =>
    Effect.gen(function* () {
      if (!pg)
        yield* sql`DELETE FROM rag_chunks_fts WHERE rowid IN (SELECT seq FROM rag_chunks WHERE scope = ${scope})`
      yield* sql`DELETE FROM rag_chunks WHERE scope = ${scope}`
      yield* sql`DELETE FROM rag_files WHERE scope = ${scope}`
      // The generation keeps counting (caches keyed on it stay correct); the file list is now empty.
      yield* sql`UPDATE rag_scopes SET generation = generation + 1 WHERE scope = ${scope}`
    }).pipe(sql.withTransaction, op("CodeIndex.clear"))

  const stats: Service["stats"] = (scope) =>
    sql<{
      readonly files: number | string
      readonly chunks: number | string | null
    }>`SELECT COUNT(*) AS files,
      SUM(chunks) AS chunks FROM rag_files WHERE scope = ${scope}`.pipe(
      Effect.map((rows) => ({ files: Number(rows[0]?.files ?? 0), chunks: Number(rows[0]?.chunks ?? 0) })),
      op("CodeIndex.stats")
    )

  const filesOf: Service["files"] = (scope) =>
    Effect.gen(function* () {
      const current = yield* generation(scope)
      const cached = (yield* Ref.get(cache)).get(scope)
      if (cached !== undefined && cached.generation === current) return cached.files
      const rows = yield* sql<{
        readonly path: string
        readonly hash: string
        readonly size: number | string
        readonly version: number | string
        readonly chunks: number | string
        readonly meta: string
      }>`SELECT path, hash, size, version, chunks, meta FROM rag_files WHERE scope = ${scope} ORDER BY path`.pipe(
        op("CodeIndex.files")
      )
      const files = rows.map(
        (row): FileInfo => ({
          path: row.path,
          hash: row.hash,
          size: Number(row.size),
          version: Number(row.version),
          chunks: Number(row.chunks),
          meta: JSON.parse(row.meta) as FileMeta
        })
      )
      yield* Ref.update(cache, (map) => new Map(map).set(scope, { generation: current, files }))
      return files
    })

  const search: Service["search"] = (scope, tokens, limit, weights = defaultColumnWeights) => {
    const terms = [
      ...new Set(tokens.map((token) => stem(token.toLowerCase())).filter((t) => /^[\p{L}\p{N}]+$/u.test(t)))
    ]
    if (terms.length === 0) return Effect.succeed([])
    type Row = { readonly id: string; readonly path: string; readonly score: number | string }
    // Postgres' ts_rank_cd has no inverse document frequency: each term's rank is weighted by its BM25 IDF
    // in this scope (one counting query first), so rare words count for more than common ones, as in FTS5.
    const pgQuery = Effect.gen(function* () {
      const max = Math.max(weights.name, weights.path, weights.literals, weights.body)
      const rankWeights = `{${[weights.body, weights.literals, weights.path, weights.name].map((w) => (w / max).toFixed(3)).join(",")}}`
      const counts = yield* sql<Record<string, number | string>>`SELECT COUNT(*) AS n, ${sql.join(
        ", ",
        false
      )(
        terms.map(
          (term, i) => sql`COUNT(*) FILTER (WHERE tsv @@ to_tsquery('simple', ${term})) AS ${sql(`t${i}`)}`
        )
      )} FROM rag_chunks WHERE scope = ${scope}`
      const n = Number(counts[0]?.n ?? 0)
      const idf = terms.map((_, i) => {
        const df = Number(counts[0]?.[`t${i}`] ?? 0)
        return Math.log(1 + (n - df + 0.5) / (df + 0.5))
      })
      const score = sql.join(
        " + ",
        false
      )(
        terms.map(
          (term, i) =>
            sql`${idf[i]!}::float8 * ts_rank_cd(${rankWeights}::float4[], tsv, to_tsquery('simple', ${term}), 0)`
        )
      )
      return yield* sql<Row>`SELECT id, path, (${score}) AS score FROM rag_chunks
        WHERE scope = ${scope} AND tsv @@ to_tsquery('simple', ${terms.join(" | ")})
        ORDER BY score DESC, id LIMIT ${limit}`
    })
    const query = pg
      ? pgQuery
      : sql<Row>`SELECT c.id, c.path,
          -bm25(rag_chunks_fts, ${weights.name}, ${weights.path}, ${weights.literals}, ${weights.body}) AS score
          FROM rag_chunks_fts JOIN rag_chunks c ON c.seq = rag_chunks_fts.rowid
          WHERE rag_chunks_fts MATCH ${terms.map((t) => `"${t}"`).join(" OR ")} AND c.scope = ${scope}
          ORDER BY score DESC, c.id LIMIT ${limit}`
    return query.pipe(
      Effect.map((rows) => rows.map((row) => ({ id: row.id, path: row.path, score: Number(row.score) }))),
      op("CodeIndex.search")
    )
  }

  const searchPhrase: Service["searchPhrase"] = (scope, phrase, limit) => {
    const needle = phrase.trim().toLowerCase()
    if (needle.length < 3) return Effect.succeed([])
    const pattern = `%${needle.replace(/[!%_]/g, (c) => `!${c}`)}%`
    return sql<{ readonly id: string; readonly path: string }>`SELECT id, path FROM rag_chunks
      WHERE scope = ${scope} AND lower(text) LIKE ${pattern} ESCAPE '!' ORDER BY path, start_line LIMIT ${limit}`.pipe(
      Effect.map((rows) => rows.map((row) => ({ id: row.id, path: row.path, score: 1 }))),
      op("CodeIndex.searchPhrase")
    )
  }

  const chunks: Service["chunks"] = (scope, paths) =>
    paths.length === 0
      ? Effect.succeed([])
      : Effect.forEach(
          batches([...new Set(paths)], 400),
          (batch) =>
            sql<ChunkRow>`SELECT id, path, kind, name, exported, start_line, end_line, text, parent_id, metadata
            FROM rag_chunks WHERE scope = ${scope} AND ${sql.in("path", batch)} ORDER BY path, start_line, seq`
        ).pipe(
          Effect.map((groups) => groups.flat().map(toChunk)),
          op("CodeIndex.chunks")
        )

  const similar: Service["similar"] = (scope, vector, limit) =>
    Effect.gen(function* () {
      if (embedder === undefined) return []
      const current = yield* generation(scope)
      let entry = (yield* Ref.get(vectorCache)).get(scope)
      if (entry === undefined || entry.generation !== current) {
        const rows = yield* sql<{
          readonly id: string
          readonly path: string
          readonly embedding: unknown
        }>`SELECT id, path,
          embedding FROM rag_chunks WHERE scope = ${scope} AND embedding IS NOT NULL AND embedding_model = ${embedder.model}`.pipe(
          op("CodeIndex.similar")
        )
        const vectors = rows.flatMap((row) => {
          const bytes = toBytes(row.embedding)
          return bytes === undefined
            ? []
            : [{ id: row.id, path: row.path, vector: Embeddings.fromBytes(bytes) }]
        })
        entry = { generation: current, vectors }
        const fresh = entry
        yield* Ref.update(vectorCache, (map) => new Map(map).set(scope, fresh))
      }
      return entry.vectors
        .map((item) => ({ id: item.id, path: item.path, score: Embeddings.cosine(vector, item.vector) }))
        .filter((hit) => hit.score > 0)
        .sort((a, b) => b.score - a.score || (a.id < b.id ? -1 : 1))
        .slice(0, limit)
    })

  const service: Service = {
    backend,
    embedder,
    index,
    remove: (scope, paths) => remove(scope, paths),
    clear,
    stats,
    generation,
    files: filesOf,
    search,
    searchPhrase,
    chunks,
    similar
  }
  return service
})

/**
 * The index as a layer: {@link RagIndex} and the core `Indexer` port, on the `SqlClient` in context.
 *
 * @since 0.1.0
 */
export const layer = (
  options: Options = {}
): Layer.Layer<RagIndex | Indexer.Indexer, Errors.StorageError, SqlClient.SqlClient> =>
  Layer.effectContext(
    Effect.map(make(options), (service) =>
      Context.make(RagIndex, service).pipe(Context.add(Indexer.Indexer, service))
    )
  )
