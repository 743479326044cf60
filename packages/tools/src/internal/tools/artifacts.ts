/**
 * `screenshot.capture` (headless Chromium via playwright-core) and `zip.create` (jszip): both store their
 * bytes as an Artifact (BlobStore + ArtifactStore).
 *
 * @internal
 */
import { Errors, ToolRegistry } from "@lathe/core"
import { Effect, Exit, Runtime, Schema } from "effect"
import JSZip from "jszip"
import { type Browser, chromium } from "playwright-core"
import { type Deps, redactBytes, sandboxOf, storeArtifact } from "./shared.js"

const ArtifactOutput = {
  artifactId: Schema.String,
  uri: Schema.String,
  size: Schema.Int
}

const browserError = (error: unknown, chromiumPath: string) => {
  const message = error instanceof Error ? error.message.split("\n")[0]! : String(error)
  const missing = /Failed to launch|ENOENT|executable doesn't exist/i.test(message)
  return new Errors.ToolError({
    tool: "screenshot.capture",
    message: missing
      ? `Chromium could not be started from ${chromiumPath}: install it (apt-get install chromium) or set chromiumPath`
      : `the browser failed: ${message.slice(0, 400)}`,
    code: missing ? "CHROMIUM_UNAVAILABLE" : "BROWSER",
    retryable: !missing
  })
}

/**
 * One Chromium shared by every capture (each gets its own browser context), launched on first use, closed
 * after `idleMs` without captures and when the tools' layer closes. A crashed browser is launched again.
 */
export class BrowserPool {
  private current: Promise<Browser> | undefined
  private users = 0
  private idle: ReturnType<typeof setTimeout> | undefined

  constructor(
    private readonly executablePath: string,
    private readonly args: ReadonlyArray<string>,
    private readonly idleMs: number
  ) {}

  /** Runs `use` with the browser, keeping it open meanwhile. */
  async with<A>(use: (browser: Browser) => Promise<A>): Promise<A> {
    if (this.idle !== undefined) clearTimeout(this.idle)
    this.idle = undefined
    this.users++
    try {
      if (this.current === undefined) {
        const launching = chromium.launch({
          executablePath: this.executablePath,
          args: [...this.args],
          headless: true
        })
        this.current = launching
        launching.then(
          (browser) =>
            browser.on("disconnected", () => {
              if (this.current === launching) this.current = undefined
            }),
          () => {
            if (this.current === launching) this.current = undefined
          }
        )
      }
      return await use(await this.current)
    } finally {
      this.users--
      if (this.users === 0 && this.current !== undefined) {
        this.idle = setTimeout(() => void this.close(), this.idleMs)
        this.idle.unref?.()
      }
    }
  }

  async close(): Promise<void> {
    if (this.idle !== undefined) clearTimeout(this.idle)
    this.idle = undefined
    const current = this.current
    this.current = undefined
    if (current !== undefined) await current.then((browser) => browser.close()).catch(() => undefined)
  }
}

export const screenshot = (deps: Deps) =>
  ToolRegistry.define({
    name: "screenshot.capture",
    description:
      "Take a PNG screenshot of the app's running preview (give 'path', e.g. '/' or '/about') or of a public web page (give 'url'), and store it as an artifact. Returns the artifact id.",
    input: Schema.Struct({
      path: Schema.optional(
        Schema.String.pipe(Schema.pattern(/^\/(?!\/)/)).annotations({
          description: "A path on the app's preview, starting with '/' (default '/')"
        })
      ),
      url: Schema.optional(
        Schema.String.annotations({ description: "A public http(s) URL instead of the preview" })
      ),
      width: Schema.optional(Schema.Int.pipe(Schema.between(320, 3840))),
      height: Schema.optional(Schema.Int.pipe(Schema.between(240, 2160))),
      fullPage: Schema.optional(Schema.Boolean),
      waitMs: Schema.optional(
        Schema.Int.pipe(Schema.between(0, 10_000)).annotations({ description: "Extra wait after load" })
      )
    }),
    output: Schema.Struct({
      ...ArtifactOutput,
      url: Schema.String,
      width: Schema.Int,
      height: Schema.Int
    }),
    sideEffect: "idempotent-write",
    capability: "screenshot",
    timeout: "90 seconds",
    cost: 5,
    run: (input, context) =>
      Effect.gen(function* () {
        if (input.path !== undefined && input.url !== undefined) {
          return yield* new Errors.ValidationError({
            message: "give either 'path' (the app's preview) or 'url', not both",
            fields: { "input.url": "not allowed together with path" }
          })
        }
        let target: URL
        let trustedOrigin: string | undefined
        if (input.url !== undefined) {
          target = yield* deps.policy.checkUrl(input.url)
        } else {
          const sandbox = yield* sandboxOf(deps, "screenshot.capture", context)
          const server = yield* sandbox.startDevServer()
          const base = new URL(server.url)
          target = new URL(input.path ?? "/", base)
          if (target.origin !== base.origin) {
            return yield* new Errors.ValidationError({
              message: "the path must stay on the app's preview",
              fields: { "input.path": "must be a path such as '/about'" }
            })
          }
          trustedOrigin = base.origin
        }
        const width = input.width ?? 1280
        const height = input.height ?? 800
        const runtime = yield* Effect.runtime<never>()
        const allowed = (url: string) =>
          Runtime.runPromiseExit(runtime)(deps.policy.checkUrl(url)).then((exit) => Exit.isSuccess(exit))
        const { chromiumPath } = deps.options
        const png = yield* Effect.tryPromise({
          try: (signal) =>
            deps.browsers.with(async (browser) => {
              const browserContext = await browser.newContext({ viewport: { width, height } })
              const close = () => browserContext.close().catch(() => undefined)
              signal.addEventListener("abort", close, { once: true })
              try {
                const page = await browserContext.newPage()
                // Every sub-request of the page passes the same SSRF guard as http.fetch (the app's own
                // preview origin excepted), so a page cannot make the browser reach private addresses.
                await page.route("**/*", async (route) => {
                  const url = route.request().url()
                  const protocol = url.slice(0, url.indexOf(":") + 1)
                  if (protocol === "data:" || protocol === "blob:" || protocol === "about:")
                    return route.continue()
                  if (protocol === "http:" || protocol === "https:") {
                    if (trustedOrigin !== undefined && new URL(url).origin === trustedOrigin)
                      return route.continue()
                    if (await allowed(url)) return route.continue()
                  }
                  return route.abort("blockedbyclient")
                })
                await page.goto(target.href, { waitUntil: "load", timeout: 45_000 })
                if (input.waitMs !== undefined && input.waitMs > 0) await page.waitForTimeout(input.waitMs)
                return new Uint8Array(
                  await page.screenshot({ type: "png", fullPage: input.fullPage ?? false })
                )
              } finally {
                signal.removeEventListener("abort", close)
                await close()
              }
            }),
          catch: (error) => browserError(error, chromiumPath)
        })
        const shown = yield* deps.policy.redact(target.href)
        const artifact = yield* storeArtifact(deps, "screenshot.capture", {
          bytes: png,
          type: "screenshot",
          jobId: context.jobId,
          metadata: {
            contentType: "image/png",
            url: shown,
            width,
            height,
            ...(context.sessionId !== null ? { sessionId: context.sessionId } : {})
          }
        })
        return { artifactId: artifact.id, uri: artifact.uri, size: artifact.size, url: shown, width, height }
      })
  })

const ZIP_DATE = new Date(Date.UTC(2000, 0, 1))
const MAX_ZIP_FILES = 20_000

export const zip = (deps: Deps) =>
  ToolRegistry.define({
    name: "zip.create",
    description:
      "Pack the app's source (everything except node_modules and .git) into a zip file stored as an artifact, for download. Registered secrets are redacted from the packed files.",
    input: Schema.Struct({
      name: Schema.optional(
        Schema.String.pipe(Schema.pattern(/^[\w.-]{1,100}$/)).annotations({
          description: "File name for the download (default 'app.zip')"
        })
      )
    }),
    output: Schema.Struct({ ...ArtifactOutput, files: Schema.Int }),
    sideEffect: "idempotent-write",
    capability: "zip",
    timeout: "5 minutes",
    cost: 5,
    run: (input, context) =>
      Effect.gen(function* () {
        const sandbox = yield* sandboxOf(deps, "zip.create", context)
        const entries = (yield* sandbox.list(undefined, { recursive: true })).filter(
          (entry) =>
            entry.type === "file" &&
            !entry.path.split("/").some((segment) => segment === "node_modules" || segment === ".git")
        )
        if (entries.length > MAX_ZIP_FILES) {
          return yield* new Errors.ToolError({
            tool: "zip.create",
            message: `the sandbox holds ${entries.length} files, more than the ${MAX_ZIP_FILES} a zip may hold`,
            code: "TOO_LARGE",
            retryable: false
          })
        }
        const archive = new JSZip()
        let total = 0
        for (const entry of entries) {
          const bytes = yield* redactBytes(deps.policy, yield* sandbox.readFile(entry.path))
          total += bytes.byteLength
          if (total > deps.options.maxZipBytes) {
            return yield* new Errors.ToolError({
              tool: "zip.create",
              message: `the sandbox holds more than ${deps.options.maxZipBytes} bytes of files`,
              code: "TOO_LARGE",
              retryable: false
            })
          }
          archive.file(entry.path, bytes, { date: ZIP_DATE, createFolders: false })
        }
        const bytes = yield* Effect.tryPromise({
          try: () =>
            archive.generateAsync({
              type: "uint8array",
              compression: "DEFLATE",
              compressionOptions: { level: 6 }
            }),
          catch: (error) =>
            new Errors.ToolError({
              tool: "zip.create",
              message: `zip could not be generated: ${(error as Error).message}`,
              code: "ZIP_FAILED",
              retryable: false
            })
        })
        const artifact = yield* storeArtifact(deps, "zip.create", {
          bytes,
          type: "zip",
          jobId: context.jobId,
          metadata: {
            contentType: "application/zip",
            name: input.name ?? "app.zip",
            files: entries.length,
            ...(context.sessionId !== null ? { sessionId: context.sessionId } : {})
          }
        })
        return { artifactId: artifact.id, uri: artifact.uri, size: artifact.size, files: entries.length }
      })
  })
