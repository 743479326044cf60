/**
 * A typed client for a Lathe server. It works in browsers, Node and during server-side rendering (it touches no
 * browser globals until a request is made).
 *
 * @example
 * ```ts
 * import { LatheClient } from "@lathe/react"
 *
 * const client = LatheClient.make({ baseUrl: "http://127.0.0.1:3100" })
 * const report = await client.health()
 * console.log(report.version, report.capabilities.filter((c) => c.status === "live"))
 * ```
 *
 * @since 0.1.0
 */
import { Errors, Health } from "@lathe/core"
import { Cause, Data, Effect, Exit, Option, Schema } from "effect"

/**
 * The `/healthz` body (core's `Health.HealthReport`).
 *
 * @since 0.1.0
 */
export type HealthReport = Health.HealthReport

/**
 * One capability in a {@link HealthReport}.
 *
 * @since 0.1.0
 */
export type Capability = Health.Capability

/**
 * `live`, `degraded`, `off` or `planned`.
 *
 * @since 0.1.0
 */
export type CapabilityStatus = Health.CapabilityStatus

/**
 * How to reach the server.
 *
 * @since 0.1.0
 */
export interface Options {
  /** The server's origin (and path prefix), e.g. `http://127.0.0.1:3100`; `""` for the page's own origin. */
  readonly baseUrl: string
  /** A bearer token sent as `Authorization: Bearer …`. */
  readonly token?: string
  /** A `fetch` implementation (defaults to the global one, looked up at request time). */
  readonly fetch?: typeof globalThis.fetch
}

/**
 * Per-request options.
 *
 * @since 0.1.0
 */
export interface RequestOptions {
  /** Aborting rejects the request with a {@link RequestAborted}. */
  readonly signal?: AbortSignal
}

/**
 * The server could not be reached (network failure, refused connection, CORS).
 *
 * @since 0.1.0
 */
export class RequestError extends Data.TaggedError("RequestError")<{
  readonly url: string
  readonly message: string
}> {}

/**
 * The server answered with an error status. `error` is the decoded Lathe error when the body was one.
 *
 * @since 0.1.0
 */
export class ResponseError extends Data.TaggedError("ResponseError")<{
  readonly url: string
  readonly status: number
  readonly message: string
  readonly error: Errors.LatheError | undefined
}> {}

/**
 * The server answered something that is not what Lathe sends (wrong server, incompatible version).
 *
 * @since 0.1.0
 */
export class DecodeError extends Data.TaggedError("DecodeError")<{
  readonly url: string
  readonly message: string
}> {}

/**
 * The request was aborted through its `signal`.
 *
 * @since 0.1.0
 */
export class RequestAborted extends Data.TaggedError("RequestAborted")<{ readonly url: string }> {}

/**
 * Every way a client call can fail (the rejection value of its promise).
 *
 * @since 0.1.0
 */
export type LatheClientError = RequestError | ResponseError | DecodeError | RequestAborted

/**
 * Whether a value is one of the client's errors.
 *
 * @since 0.1.0
 */
export const isLatheClientError = (u: unknown): u is LatheClientError =>
  u instanceof RequestError ||
  u instanceof ResponseError ||
  u instanceof DecodeError ||
  u instanceof RequestAborted

/**
 * The client.
 *
 * @since 0.1.0
 */
export interface LatheClient {
  readonly baseUrl: string
  /** `GET /healthz`, decoded with core's `Health.HealthReport`. Rejects with a {@link LatheClientError}. */
  readonly health: (options?: RequestOptions) => Promise<Health.HealthReport>
}

const decodeReport = Schema.decodeUnknown(Health.HealthReport)
const decodeLatheError = Schema.decodeUnknownOption(Errors.LatheError)

const join = (baseUrl: string, path: string): string => `${baseUrl.replace(/\/+$/, "")}/${path}`

/**
 * Creates a client.
 *
 * @since 0.1.0
 */
export const make = (options: Options): LatheClient => {
  const doFetch: typeof globalThis.fetch = options.fetch ?? ((input, init) => globalThis.fetch(input, init))
  const headers: Record<string, string> = { accept: "application/json" }
  if (options.token !== undefined) headers.authorization = `Bearer ${options.token}`

  const getJson = (path: string): Effect.Effect<unknown, LatheClientError> => {
    const url = join(options.baseUrl, path)
    return Effect.gen(function* () {
      const response = yield* Effect.tryPromise({
        try: (signal) => doFetch(url, { method: "GET", headers, signal }),
        catch: (cause) =>
          new RequestError({
            url,
            message: `Cannot reach Lathe at ${url}${cause instanceof Error ? ` (${cause.message})` : ""}`
          })
      })
      const body = yield* Effect.tryPromise({
        try: () => response.json() as Promise<unknown>,
        catch: () =>
          response.ok
            ? new DecodeError({ url, message: `${url} did not answer JSON` })
            : new ResponseError({
                url,
                status: response.status,
                message: `${url} answered HTTP ${response.status}`,
                error: undefined
              })
      })
      if (!response.ok) {
        const error = Option.getOrUndefined(decodeLatheError(body))
        return yield* new ResponseError({
          url,
          status: response.status,
          message: error?.message ?? `${url} answered HTTP ${response.status}`,
          error
        })
      }
      return body
    })
  }

  /** The edge: runs the request, rejecting with the typed error itself (never a wrapped fiber failure). */
  const run = <A>(
    url: string,
    effect: Effect.Effect<A, LatheClientError>,
    request?: RequestOptions
  ): Promise<A> =>
    Effect.runPromiseExit(effect, request?.signal ? { signal: request.signal } : undefined).then((exit) => {
      if (Exit.isSuccess(exit)) return exit.value
      if (Cause.isInterruptedOnly(exit.cause)) throw new RequestAborted({ url })
      throw Cause.squash(exit.cause)
    })

  return {
    baseUrl: options.baseUrl,
    health: (request) => {
      const url = join(options.baseUrl, "healthz")
      return run(
        url,
        getJson("healthz").pipe(
          Effect.flatMap((body) =>
            decodeReport(body).pipe(
              Effect.mapError(
                () => new DecodeError({ url, message: `${url} did not answer a Lathe health report` })
              )
            )
          )
        ),
        request
      )
    }
  }
}
