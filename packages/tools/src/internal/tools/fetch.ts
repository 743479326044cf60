/**
 * Outbound HTTP for `http.fetch` and `scrape.url`: every hop (the first URL and each redirect) goes through
 * `Policy.checkUrl`, and the connection itself re-checks every address the host name resolves to at connect
 * time, so a DNS answer that changes between the check and the connect (rebinding) cannot reach a private
 * address. Bodies are capped; the whole exchange has a deadline and honours the abort signal.
 *
 * Node's `http`/`https` are used directly because the connect-time address check needs a per-request
 * `lookup`, which the platform HTTP client does not expose.
 *
 * @internal
 */
import * as dns from "node:dns"
import * as http from "node:http"
import * as https from "node:https"
import type { LookupFunction } from "node:net"
import { Errors, type Policy } from "@lathe/core"
import { Cause, Effect, Exit, Runtime } from "effect"

/** What to fetch. */
export interface FetchRequest {
  /** The tool on whose behalf the request runs (named in errors). */
  readonly tool: string
  readonly url: string
  readonly method: "GET" | "HEAD" | "POST"
  readonly headers: Readonly<Record<string, string>>
  readonly body?: string
  readonly maxBytes: number
  readonly maxRedirects: number
  readonly timeoutMs: number
  readonly signal?: AbortSignal
}

/** What came back. */
export interface FetchResponse {
  readonly url: string
  readonly status: number
  readonly headers: Readonly<Record<string, string>>
  readonly body: Uint8Array
  readonly truncated: boolean
  readonly redirects: ReadonlyArray<string>
}

const USER_AGENT = "Lathe/0.1 (+https://github.com/lathe; tool fetch)"

class ConnectRefused extends Error {
  constructor(readonly denied: Errors.PolicyDenied) {
    super(denied.message)
  }
}

const formatHost = (address: string, family: number) => (family === 6 ? `[${address}]` : address)

/**
 * A `lookup` that resolves the host, then asks the policy about every address before the socket connects.
 */
const guardedLookup =
  (
    check: (url: string) => Promise<Exit.Exit<URL, Errors.PolicyDenied>>,
    protocol: string,
    port: string
  ): LookupFunction =>
  (hostname, options, callback) => {
    dns.lookup(hostname, { ...options, all: true, verbatim: true }, (error, addresses) => {
      if (error) return callback(error, "", 4)
      const list = addresses as unknown as ReadonlyArray<dns.LookupAddress>
      Promise.all(list.map((a) => check(`${protocol}//${formatHost(a.address, a.family)}:${port}/`))).then(
        (exits) => {
          for (const exit of exits) {
            if (Exit.isFailure(exit)) {
              const failure = Cause.failureOption(exit.cause)
              const denied =
                failure._tag === "Some"
                  ? failure.value
                  : new Errors.PolicyDenied({ reason: "url", message: "address check failed" })
              return callback(new ConnectRefused(denied), "", 4)
            }
          }
          const first = list[0]
          if (first === undefined) return callback(new Error("no address"), "", 4)
          if ((options as { all?: boolean }).all) return (callback as any)(null, list)
          return callback(null, first.address, first.family)
        },
        (reason) => callback(reason as Error, "", 4)
      )
    })
  }

const networkError = (tool: string, error: NodeJS.ErrnoException, url: string) =>
  new Errors.ToolError({
    tool,
    message: `request to ${new URL(url).origin} failed: ${error.code ?? error.message}`,
    code: error.code ?? "ENETWORK",
    retryable: true
  })

/** One request, no redirect following. */
const once = (
  url: URL,
  request: FetchRequest,
  method: string,
  body: string | undefined,
  check: (url: string) => Promise<Exit.Exit<URL, Errors.PolicyDenied>>
) =>
  Effect.async<
    { status: number; headers: http.IncomingHttpHeaders; body: Uint8Array; truncated: boolean },
    Errors.PolicyDenied | Errors.ToolError
  >((resume) => {
    const client = url.protocol === "https:" ? https : http
    const port = url.port !== "" ? url.port : url.protocol === "https:" ? "443" : "80"
    const headers: Record<string, string> = { "user-agent": USER_AGENT, accept: "*/*" }
    for (const [key, value] of Object.entries(request.headers)) {
      if (key.toLowerCase() !== "host") headers[key.toLowerCase()] = value
    }
    if (body !== undefined) headers["content-length"] = String(Buffer.byteLength(body))
    let settled = false
    const done = (effect: Effect.Effect<any, Errors.PolicyDenied | Errors.ToolError>) => {
      if (!settled) {
        settled = true
        resume(effect)
      }
    }
    let req: http.ClientRequest
    try {
      req = client.request(url, {
        method,
        headers,
        lookup: guardedLookup(check, url.protocol, port),
        // Never reuse a socket: each request's connection must pass the address check.
        agent: false
      })
    } catch (error) {
      done(
        Effect.fail(
          new Errors.ToolError({
            tool: request.tool,
            message: `invalid request: ${(error as Error).message}`,
            code: "EINVAL",
            retryable: false
          })
        )
      )
      return
    }
    req.on("error", (error: NodeJS.ErrnoException) => {
      if (error instanceof ConnectRefused) done(Effect.fail(error.denied))
      else done(Effect.fail(networkError(request.tool, error, url.href)))
    })
    req.on("response", (res) => {
      const chunks: Array<Buffer> = []
      let size = 0
      let truncated = false
      const finish = () =>
        done(
          Effect.succeed({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: new Uint8Array(Buffer.concat(chunks)),
            truncated
          })
        )
      res.on("data", (chunk: Buffer) => {
        if (truncated) return
        const room = request.maxBytes - size
        if (chunk.length >= room) {
          if (chunk.length > room) truncated = true
          chunks.push(chunk.subarray(0, room))
          size += room
          if (truncated) {
            finish()
            res.destroy()
          }
          return
        }
        chunks.push(chunk)
        size += chunk.length
      })
      res.on("end", finish)
      res.on("error", (error: NodeJS.ErrnoException) =>
        done(Effect.fail(networkError(request.tool, error, url.href)))
      )
    })
    req.end(body)
    return Effect.sync(() => req.destroy())
  })

const REDIRECTS = new Set([301, 302, 303, 307, 308])

const flatten = (headers: http.IncomingHttpHeaders): Record<string, string> => {
  const out: Record<string, string> = {}
  for (const [key, value] of Object.entries(headers)) {
    if (value !== undefined) out[key] = Array.isArray(value) ? value.join(", ") : value
  }
  return out
}

/**
 * Fetches a URL through the policy, following redirects (each hop re-checked).
 */
export const guardedFetch = (
  policy: Policy.Policy["Type"],
  request: FetchRequest
): Effect.Effect<FetchResponse, Errors.PolicyDenied | Errors.ToolError | Errors.Timeout> =>
  Effect.gen(function* () {
    const runtime = yield* Effect.runtime<never>()
    const check = (url: string) => Runtime.runPromiseExit(runtime)(policy.checkUrl(url))
    const redirects: Array<string> = []
    let current = request.url
    let method: string = request.method
    let body = request.body
    for (let hop = 0; ; hop++) {
      const url = yield* policy.checkUrl(current)
      const response = yield* once(url, request, method, body, check)
      const location = response.headers.location
      if (REDIRECTS.has(response.status) && typeof location === "string") {
        if (hop >= request.maxRedirects) {
          return yield* new Errors.ToolError({
            tool: request.tool,
            message: `more than ${request.maxRedirects} redirects`,
            code: "TOO_MANY_REDIRECTS",
            retryable: false
          })
        }
        let next: URL
        try {
          next = new URL(location, url)
        } catch {
          return yield* new Errors.ToolError({
            tool: request.tool,
            message: "a redirect pointed to an invalid URL",
            code: "BAD_REDIRECT",
            retryable: false
          })
        }
        current = next.href
        redirects.push(current)
        if (
          response.status === 303 ||
          ((response.status === 301 || response.status === 302) && method === "POST")
        ) {
          method = "GET"
          body = undefined
        }
        continue
      }
      return {
        url: url.href,
        status: response.status,
        headers: flatten(response.headers),
        body: response.body,
        truncated: response.truncated,
        redirects
      }
    }
  }).pipe(
    Effect.timeoutFail({
      duration: request.timeoutMs,
      onTimeout: () => new Errors.Timeout({ operation: "http request", timeoutMs: request.timeoutMs })
    }),
    (effect) =>
      request.signal === undefined
        ? effect
        : Effect.raceFirst(
            effect,
            Effect.async<never, Errors.ToolError>((resume) => {
              const signal = request.signal!
              const onAbort = () =>
                resume(
                  Effect.fail(
                    new Errors.ToolError({
                      tool: request.tool,
                      message: "request aborted",
                      code: "ABORTED",
                      retryable: true
                    })
                  )
                )
              if (signal.aborted) onAbort()
              else signal.addEventListener("abort", onAbort, { once: true })
              return Effect.sync(() => signal.removeEventListener("abort", onAbort))
            })
          )
  )

/** Whether a content type is text the tools return as a string. */
export const isTextual = (contentType: string | undefined): boolean =>
  contentType === undefined ||
  /^(text\/|application\/(json|xml|xhtml\+xml|javascript|ecmascript|x-www-form-urlencoded|ld\+json|manifest\+json)|image\/svg\+xml)|\+json|\+xml/i.test(
    contentType
  )
