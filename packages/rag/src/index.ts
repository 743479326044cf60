/**
 * @lathe/rag: code chunking by component and function, the code index (SQLite FTS5, Postgres full text,
 * optional vectors), the hybrid retriever and the context composer.
 *
 * @since 0.1.0
 */
export * as Chunker from "./Chunker.js"
export * as CodeIndex from "./CodeIndex.js"
export * as ContextComposer from "./ContextComposer.js"
export * as Embeddings from "./Embeddings.js"
export * as Retriever from "./Retriever.js"
export * as Tokenizer from "./Tokenizer.js"
