/**
 * `fs.read`, `fs.write`, `fs.list`, `fs.delete`: sandbox files, every path through `Policy.normalizePath`.
 *
 * @internal
 */
import { Errors, ToolRegistry } from "@lathe/core"
import { Effect, Schema } from "effect"
import { type Deps, sandboxOf, utf8 } from "./shared.js"

const Path = Schema.String.annotations({
  description: "A path relative to the sandbox root, with '/' separators, e.g. 'src/App.tsx'"
})
const Encoding = Schema.Literal("utf8", "base64").annotations({
  description: "'utf8' for text (default), 'base64' for binary content"
})

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/

const tooLarge = (tool: string, size: number, limit: number) =>
  new Errors.ToolError({
    tool,
    message: `${size} bytes exceed the ${limit}-byte limit of ${tool}`,
    code: "TOO_LARGE",
    retryable: false
  })

export const read = (deps: Deps) =>
  ToolRegistry.define({
    name: "fs.read",
    description:
      "Read a file from the app's sandbox. Returns its content as UTF-8 text (or base64 with encoding 'base64' for binary files). Paths are relative to the project root, e.g. 'src/App.tsx'.",
    input: Schema.Struct({
      path: Path,
      encoding: Schema.optional(Encoding),
      maxBytes: Schema.optional(
        Schema.Int.pipe(Schema.between(1, 50 * 1024 * 1024)).annotations({
          description: "Return at most this many bytes (the rest is cut and `truncated` is true)"
        })
      )
    }),
    output: Schema.Struct({
      path: Schema.String,
      encoding: Encoding,
      content: Schema.String,
      size: Schema.Int,
      truncated: Schema.Boolean
    }),
    sideEffect: "read",
    capability: "fs.read",
    timeout: "30 seconds",
    cost: 1,
    run: (input, context) =>
      Effect.gen(function* () {
        const path = yield* deps.policy.normalizePath(input.path)
        const sandbox = yield* sandboxOf(deps, "fs.read", context)
        const bytes = yield* sandbox.readFile(path)
        const limit = Math.min(input.maxBytes ?? deps.options.maxFileBytes, deps.options.maxFileBytes)
        const truncated = bytes.byteLength > limit
        const kept = truncated ? bytes.subarray(0, limit) : bytes
        const encoding = input.encoding ?? "utf8"
        if (encoding === "base64") {
          return {
            path,
            encoding,
            content: Buffer.from(kept).toString("base64"),
            size: bytes.byteLength,
            truncated
          }
        }
        const text = truncated ? new TextDecoder().decode(kept) : utf8(kept)
        if (text === undefined) {
          return yield* new Errors.ToolError({
            tool: "fs.read",
            message: `'${path}' is not UTF-8 text: read it with encoding 'base64'`,
            code: "BINARY_FILE",
            retryable: false
          })
        }
        return { path, encoding, content: text, size: bytes.byteLength, truncated }
      })
  })

export const write = (deps: Deps) =>
  ToolRegistry.define({
    name: "fs.write",
    description:
      "Create or overwrite a file in the app's sandbox with exactly the given content (no templating, no newline changes). Parent folders are created. Paths are relative to the project root; '..', absolute paths, .git internals, lockfiles and .env files are refused.",
    input: Schema.Struct({
      path: Path,
      content: Schema.String.annotations({ description: "The whole new file content" }),
      encoding: Schema.optional(Encoding)
    }),
    output: Schema.Struct({ path: Schema.String, bytes: Schema.Int }),
    sideEffect: "idempotent-write",
    capability: "fs.write",
    timeout: "30 seconds",
    cost: 1,
    run: (input, context) =>
      Effect.gen(function* () {
        const path = yield* deps.policy.normalizePath(input.path, { write: true })
        let content: string | Uint8Array = input.content
        if (input.encoding === "base64") {
          if (!BASE64.test(input.content)) {
            return yield* new Errors.ValidationError({
              message: "content is not valid base64",
              fields: { "input.content": "expected standard base64 with padding" }
            })
          }
          content = new Uint8Array(Buffer.from(input.content, "base64"))
        }
        const bytes = typeof content === "string" ? Buffer.byteLength(content, "utf8") : content.byteLength
        if (bytes > deps.options.maxFileBytes)
          return yield* tooLarge("fs.write", bytes, deps.options.maxFileBytes)
        const sandbox = yield* sandboxOf(deps, "fs.write", context)
        yield* sandbox.writeFile(path, content)
        return { path, bytes }
      })
  })

const Entry = Schema.Struct({
  path: Schema.String,
  type: Schema.Literal("file", "directory", "symlink"),
  size: Schema.Int
})

const MAX_ENTRIES = 5000

export const list = (deps: Deps) =>
  ToolRegistry.define({
    name: "fs.list",
    description:
      "List files in the app's sandbox (node_modules and .git are skipped). Without a path, lists the whole project.",
    input: Schema.Struct({
      path: Schema.optional(Path),
      recursive: Schema.optional(
        Schema.Boolean.annotations({ description: "Include sub-folders (default true)" })
      )
    }),
    output: Schema.Struct({ entries: Schema.Array(Entry), truncated: Schema.Boolean }),
    sideEffect: "read",
    capability: "fs.read",
    timeout: "30 seconds",
    cost: 1,
    run: (input, context) =>
      Effect.gen(function* () {
        const path = yield* deps.policy.normalizePath(input.path ?? ".")
        const sandbox = yield* sandboxOf(deps, "fs.list", context)
        const entries = yield* sandbox.list(path === "." ? undefined : path, {
          recursive: input.recursive ?? true
        })
        const visible = entries.filter(
          (entry) =>
            !entry.path.split("/").some((segment) => segment === "node_modules" || segment === ".git")
        )
        return {
          entries: visible.slice(0, MAX_ENTRIES).map((e) => ({ path: e.path, type: e.type, size: e.size })),
          truncated: visible.length > MAX_ENTRIES
        }
      })
  })

export const remove = (deps: Deps) =>
  ToolRegistry.define({
    name: "fs.delete",
    description:
      "Delete a file (or a folder with recursive: true) from the app's sandbox. Protected files and .git cannot be deleted.",
    input: Schema.Struct({
      path: Path,
      recursive: Schema.optional(
        Schema.Boolean.annotations({ description: "Delete a folder and everything in it" })
      )
    }),
    output: Schema.Struct({ path: Schema.String, deleted: Schema.Boolean }),
    sideEffect: "destructive",
    capability: "fs.delete",
    timeout: "30 seconds",
    cost: 1,
    run: (input, context) =>
      Effect.gen(function* () {
        const path = yield* deps.policy.normalizePath(input.path, { write: true })
        const sandbox = yield* sandboxOf(deps, "fs.delete", context)
        yield* sandbox.remove(path, { recursive: input.recursive ?? false })
        return { path, deleted: true }
      })
  })
