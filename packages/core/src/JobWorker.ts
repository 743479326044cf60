/**
 * Workers: run queued jobs on this node. A worker claims jobs (a lease per job, extended by a heartbeat),
 * runs their handlers with a durable `JobContext`, records the outcome through the state machine, retries
 * retryable failures with exponential backoff and jitter, and gives up jobs it can no longer own (cancelled,
 * lease lost, shutting down). Any number of workers, in any number of processes, share one store.
 *
 * @since 0.1.0
 */
import {
  Cause,
  Context,
  DateTime,
  Duration,
  Effect,
  Exit,
  FiberMap,
  FiberRef,
  Layer,
  Option,
  Queue,
  Random,
  Ref,
  Schedule,
  Schema,
  Stream
} from "effect"
import { type Job, type JobEvent, Json, type JsonObject, Task } from "./Domain.js"
import {
  ApprovalRejected,
  type ErrorInfo,
  isRetryable,
  NotFound,
  StorageError,
  Timeout,
  toErrorInfo
} from "./Errors.js"
import * as EventBus from "./EventBus.js"
import { IdGenerator, type JobId, TaskId } from "./Ids.js"
import { appendEvent, publishEvent, transitionJob } from "./internal/jobs.js"
import { approvalStep } from "./JobEngine.js"
import * as JobHandlers from "./JobHandlers.js"
import { EventLog, JobStore, TaskStore, Transactor } from "./Stores.js"

/**
 * Worker settings.
 *
 * @since 0.1.0
 */
export interface Options {
  /** This node's id: jobs with another node's affinity are left alone. */
  readonly nodeId: string
  /** Jobs running at once on this worker (default 4). */
  readonly concurrency?: number
  /** Per job type caps, e.g. `{ install: 1 }`. */
  readonly concurrencyByType?: Readonly<Record<string, number>>
  /** Jobs of one session running at once, across all workers (default unlimited). */
  readonly maxPerSession?: number
  /** Lease length (default 30 s); a worker that stops heartbeating loses its jobs after this long. */
  readonly lease?: Duration.DurationInput
  /** Heartbeat period (default a third of the lease). */
  readonly heartbeat?: Duration.DurationInput
  /** How often to look for work when nothing wakes the worker (default 1 s). */
  readonly poll?: Duration.DurationInput
  /** First job-level retry delay (default 1 s), doubled per attempt with jitter, capped by `retryMax`. */
  readonly retryBase?: Duration.DurationInput
  readonly retryMax?: Duration.DurationInput
}

/**
 * A running worker.
 *
 * @since 0.1.0
 */
export class JobWorker extends Context.Tag("@lathe/core/JobWorker")<
  JobWorker,
  {
    /** The lease owner id of this worker (`<node>:<random>`). */
    readonly owner: string
    /** Jobs running on this worker now. */
    readonly running: Effect.Effect<ReadonlyArray<JobId>>
  }
>() {}

/**
 * The delay before retry `attempt` (1-based): `base · 2^(attempt-1)`, capped, times a jitter in [0.5, 1).
 *
 * @since 0.1.0
 */
export const retryDelay = (
  attempt: number,
  base: Duration.DurationInput = "1 second",
  max: Duration.DurationInput = "60 seconds"
): Effect.Effect<Duration.Duration> =>
  Effect.map(Random.next, (jitter) => {
    const raw = Duration.toMillis(base) * 2 ** Math.max(0, attempt - 1)
    return Duration.millis(Math.round(Math.min(raw, Duration.toMillis(max)) * (0.5 + jitter / 2)))
  })

/** Why a handler fiber was stopped from inside or outside. */
type StopReason = "park" | "pause" | "cancel" | "lost" | "shutdown"

const currentTask = FiberRef.unsafeMake<Option.Option<{ readonly id: TaskId; readonly name: string }>>(
  Option.none()
)

const encodeStepOutput = <A>(name: string, value: A, schema: Schema.Schema<A, any, never> | undefined) =>
  (schema ? Schema.encode(schema)(value) : Effect.succeed(value as unknown)).pipe(
    Effect.flatMap((encoded) =>
      encoded === undefined
        ? Effect.succeed({})
        : Effect.map(Schema.decodeUnknown(Json)(encoded), (v) => ({ v }))
    ),
    Effect.orDieWith(
      () =>
        new Error(
          `step '${name}' returned a value that cannot be stored as JSON; pass { schema } to ctx.step`
        )
    )
  )

const decodeStepOutput = <A>(
  name: string,
  stored: unknown,
  schema: Schema.Schema<A, any, never> | undefined
) => {
  const wrapped = stored as { v?: unknown } | null
  if (wrapped === null || typeof wrapped !== "object" || !("v" in wrapped))
    return Effect.succeed(undefined as A)
  return (schema ? Schema.decodeUnknown(schema)(wrapped.v) : Effect.succeed(wrapped.v as A)).pipe(
    Effect.orDieWith(() => new Error(`the stored result of step '${name}' no longer matches its schema`))
  )
}

/**
 * Starts a worker in the current scope; closing the scope releases its running jobs back to the queue.
 *
 * @since 0.1.0
 */
export const make = (options: Options) =>
  Effect.gen(function* () {
    const jobs = yield* JobStore
    const tasks = yield* TaskStore
    const bus = yield* EventBus.EventBus
    const handlers = yield* JobHandlers.JobHandlers
    const ids = yield* IdGenerator
    const transactor = yield* Transactor
    const eventLog = yield* EventLog
    const storeContext = yield* Effect.context<JobStore | EventLog | EventBus.EventBus | Transactor>()
    const provide = <A, E>(
      effect: Effect.Effect<A, E, JobStore | EventLog | EventBus.EventBus | Transactor>
    ) => Effect.provide(effect, storeContext)

    const owner = `${options.nodeId}:${(yield* ids.next).slice(-12)}`
    const concurrency = Math.max(1, options.concurrency ?? 4)
    const leaseMs = Duration.toMillis(options.lease ?? "30 seconds")
    const heartbeatMs = Duration.toMillis(options.heartbeat ?? Duration.millis(leaseMs / 3))
    const pollMs = Duration.toMillis(options.poll ?? "1 second")
    const workerScope = yield* Effect.scope
    const fibers = yield* FiberMap.make<JobId>()
    const runningTypes = new Map<JobId, string>()
    const stopReasons = new Map<JobId, StopReason>()
    const wake = yield* Queue.sliding<void>(1)

    const leaseUntil = (now: DateTime.Utc) => DateTime.add(now, { millis: leaseMs })
    const safely = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<void, never, R> =>
      effect.pipe(
        Effect.asVoid,
        Effect.catchAllCause((cause) =>
          Cause.isInterruptedOnly(cause)
            ? Effect.interrupt
            : Effect.logWarning("job worker: bookkeeping failed", cause)
        )
      )

    const stop = (jobId: JobId, reason: StopReason) =>
      Effect.suspend(() => {
        stopReasons.set(jobId, reason)
        return Effect.interrupt
      })

    // --- the context a handler runs with ---------------------------------------------------------------
    const makeContext = (
      job: Job,
      signal: AbortSignal,
      failedStep: Ref.Ref<string | undefined>
    ): JobHandlers.JobContext => {
      // Before each step: is the job still ours and still running? (pause stops here, cancel may too)
      // A job deleted under us is no longer ours either.
      const orLost = <A, E, R>(
        effect: Effect.Effect<A, E | NotFound, R>
      ): Effect.Effect<A, Exclude<E, NotFound>, R> =>
        Effect.catchIf(
          effect,
          (error): error is NotFound => error instanceof NotFound,
          () => stop(job.id, "lost")
        ) as never
      const boundary = Effect.gen(function* () {
        const current = yield* orLost(jobs.get(job.id))
        if (current.state === "running" && current.leaseOwner === owner) return
        return yield* stop(
          job.id,
          current.state === "paused" ? "pause" : current.state === "cancelled" ? "cancel" : "lost"
        )
      })
      const emit = (type: string, payload: JsonObject) => safely(provide(appendEvent(job, type, payload)))

      const step: JobHandlers.JobContext["step"] = (name, effect, stepOptions = {}) =>
        Effect.gen(function* () {
          yield* boundary
          const existing = yield* tasks.find(job.id, name)
          if (Option.isSome(existing) && existing.value.state === "completed") {
            yield* emit("step-replay", { step: name })
            return yield* decodeStepOutput(name, existing.value.output, stepOptions.schema)
          }
          const now = yield* DateTime.now
          const task = yield* orLost(
            tasks.start(
              new Task({
                id: Option.isSome(existing) ? existing.value.id : TaskId.make(yield* ids.next),
                jobId: job.id,
                name,
                state: "running",
                logs: [],
                startedAt: now,
                finishedAt: null,
                attempt: 1,
                output: null
              })
            )
          )
          if (task.state === "completed") {
            // Another worker (which held the job before this one) completed the step since we looked.
            yield* emit("step-replay", { step: name })
            return yield* decodeStepOutput(name, task.output, stepOptions.schema)
          }
          yield* emit("step-start", { step: name, attempt: task.attempt })
          const started = Date.now()
          let run = effect
          if (stepOptions.timeout !== undefined) {
            const timeoutMs = Duration.toMillis(stepOptions.timeout)
            run = Effect.timeoutFail(run, {
              duration: stepOptions.timeout,
              onTimeout: () => new Timeout({ operation: `step '${name}'`, timeoutMs }) as never
            })
          }
          if (stepOptions.retry !== undefined) {
            const schedule = stepOptions.retry
            run = Effect.retry(run, { schedule, while: (error) => isRetryable(error) })
          }
          const exit = yield* Effect.exit(
            Effect.locally(run, currentTask, Option.some({ id: task.id, name }))
          )
          const finishedAt = yield* DateTime.now
          if (Exit.isSuccess(exit)) {
            const output = yield* encodeStepOutput(name, exit.value, stepOptions.schema)
            yield* orLost(tasks.finish(task.id, { state: "completed", output, finishedAt }))
            yield* emit("step-end", { step: name, ok: true, durationMs: Date.now() - started })
            return exit.value
          }
          if (!Cause.isInterruptedOnly(exit.cause)) {
            const info = toErrorInfo(Cause.squash(exit.cause), name)
            yield* Ref.set(failedStep, name)
            yield* orLost(
              tasks.finish(task.id, {
                state: "failed",
                output: { error: info as unknown as Json },
                finishedAt
              })
            )
            yield* emit("step-end", {
              step: name,
              ok: false,
              error: info.message,
              durationMs: Date.now() - started
            })
          }
          return yield* Effect.failCause(exit.cause)
        })

      return {
        job,
        signal,
        step,
        log: (level, message) =>
          Effect.gen(function* () {
            const current = yield* FiberRef.get(currentTask)
            if (Option.isSome(current)) {
              yield* safely(tasks.appendLogs(current.value.id, [{ at: yield* DateTime.now, level, message }]))
            }
            yield* emit("log", {
              level,
              message,
              ...(Option.isSome(current) ? { step: current.value.name } : {})
            })
          }),
        progress: (fraction, message) =>
          emit("progress", {
            fraction: Math.min(1, Math.max(0, fraction)),
            ...(message !== undefined ? { message } : {})
          }),
        emit,
        awaitApproval: (name, payload) =>
          Effect.gen(function* () {
            yield* boundary
            const stepName = approvalStep(name)
            const existing = yield* tasks.find(job.id, stepName)
            if (Option.isSome(existing) && existing.value.state === "completed") {
              const decision = yield* Schema.decodeUnknown(JobHandlers.ApprovalDecision)(
                existing.value.output
              ).pipe(Effect.orDie)
              if (decision.approved) return decision.payload
              return yield* Effect.fail(
                new ApprovalRejected({ jobId: job.id, approval: name, reason: decision.reason })
              )
            }
            if (Option.isNone(existing)) {
              yield* orLost(
                tasks.start(
                  new Task({
                    id: TaskId.make(yield* ids.next),
                    jobId: job.id,
                    name: stepName,
                    state: "running",
                    logs: [],
                    startedAt: yield* DateTime.now,
                    finishedAt: null,
                    attempt: 1,
                    output: null
                  })
                )
              )
              yield* emit("approval-requested", { approval: name, payload })
            }
            yield* orLost(
              provide(
                // Parked, not failed: this attempt does not count against maxAttempts.
                transitionJob(
                  job.id,
                  "await-approval",
                  (current) => ({
                    leaseOwner: null,
                    leaseExpiresAt: null,
                    attempt: Math.max(0, current.attempt - 1)
                  }),
                  { approval: name }
                )
              ).pipe(Effect.catchTag("IllegalTransition", () => stop(job.id, "lost")))
            )
            return yield* stop(job.id, "park")
          })
      }
    }

    // --- one job ----------------------------------------------------------------------------------------
    const finish = (
      job: Job,
      failedStep: Ref.Ref<string | undefined>,
      exit: Exit.Exit<unknown, unknown>,
      handler: JobHandlers.JobHandler
    ) =>
      Effect.gen(function* () {
        const release = { leaseOwner: null, leaseExpiresAt: null }
        if (Exit.isSuccess(exit)) {
          const output = yield* Schema.encode(handler.output)(exit.value).pipe(
            Effect.flatMap(Schema.decodeUnknown(Json)),
            Effect.orElseSucceed(() => null)
          )
          yield* provide(
            // `job` (as claimed) is passed as known: the compare-and-set checks it is still current.
            transitionJob(job.id, "complete", () => ({ ...release, output, error: null }), {}, owner, job)
          )
          return
        }
        if (Cause.isInterruptedOnly(exit.cause)) {
          const reason = stopReasons.get(job.id) ?? "shutdown"
          if (reason === "shutdown") {
            // Give the job back at once (not counting this attempt) instead of waiting for the lease to lapse.
            yield* provide(
              transitionJob(
                job.id,
                "lease-expire",
                (current, now) => ({ ...release, runAt: now, attempt: Math.max(0, current.attempt - 1) }),
                {
                  reason: "worker shutdown"
                },
                owner,
                job
              )
            )
          } else if (reason === "pause") {
            // Stopped at a step boundary: not a failed attempt, so it does not count against maxAttempts.
            const current = yield* jobs.get(job.id)
            if (current.state === "paused" && current.leaseOwner === owner) {
              yield* jobs.update(
                { ...current, ...release, attempt: Math.max(0, current.attempt - 1) },
                "paused"
              )
            }
          }
          return
        }
        const error = Cause.squash(exit.cause)
        const info: ErrorInfo = toErrorInfo(error, (yield* Ref.get(failedStep)) ?? undefined)
        // attempt and maxAttempts do not change while the job runs: the claimed copy has them.
        if (info.retryable && job.attempt < job.maxAttempts) {
          const delay = yield* retryDelay(job.attempt, options.retryBase, options.retryMax)
          yield* provide(
            transitionJob(
              job.id,
              "retry",
              (_, now) => ({
                ...release,
                error: info,
                runAt: DateTime.add(now, { millis: Duration.toMillis(delay) })
              }),
              { error: info.message, retryInMs: Duration.toMillis(delay) },
              owner,
              job
            )
          )
          // Wake this worker when the retry is due instead of waiting for the next poll.
          yield* Effect.forkIn(Effect.delay(Queue.offer(wake, undefined), delay), workerScope)
        } else {
          yield* provide(
            transitionJob(
              job.id,
              "fail",
              () => ({ ...release, error: info }),
              { error: info.message },
              owner,
              job
            )
          )
        }
      }).pipe(
        // The job is no longer ours (its lease lapsed and another worker took it, or it was cancelled): the
        // outcome of this run is not recorded; the job's current owner decides.
        Effect.catchTag("IllegalTransition", (error) =>
          Effect.logDebug("job worker: outcome not recorded, the job moved on", error)
        ),
        safely
      )

    const runJob = (job: Job, claimed: JobEvent) =>
      Effect.gen(function* () {
        const handler = Option.getOrThrow(handlers.get(job.type))
        yield* safely(provide(publishEvent(job, claimed)))
        const failedStep = yield* Ref.make<string | undefined>(undefined)
        const controller = new AbortController()
        const program = Schema.decodeUnknown(handler.input)(job.input).pipe(
          Effect.mapError(
            (error) =>
              new StorageError({
                operation: "job.input",
                retryable: false,
                message: `stored input no longer matches the '${job.type}' handler: ${error.message.slice(0, 200)}`
              })
          ),
          Effect.flatMap((input) => handler.run(input, makeContext(job, controller.signal, failedStep))),
          Effect.onInterrupt(() => Effect.sync(() => controller.abort()))
        )
        const exit = yield* Effect.exit(Effect.interruptible(program))
        yield* Effect.uninterruptible(finish(job, failedStep, exit, handler))
      }).pipe(
        Effect.ensuring(
          Effect.sync(() => {
            runningTypes.delete(job.id)
            stopReasons.delete(job.id)
          })
        ),
        Effect.ensuring(Queue.offer(wake, undefined)),
        Effect.withSpan("JobWorker.run", {
          attributes: { "job.id": job.id, "job.type": job.type, "job.attempt": job.attempt },
          captureStackTrace: false
        })
      )

    // --- loops ------------------------------------------------------------------------------------------
    const typeLimits = options.concurrencyByType ?? {}
    const claimOnce = Effect.gen(function* () {
      const free = concurrency - (yield* FiberMap.size(fibers))
      if (free <= 0) return 0
      const now = yield* DateTime.now
      const counts = new Map<string, number>()
      for (const type of runningTypes.values()) counts.set(type, (counts.get(type) ?? 0) + 1)
      const unlimited = handlers.types.filter((type) => typeLimits[type] === undefined)
      const batches: Array<{ types: ReadonlyArray<string>; limit: number }> = []
      for (const [type, cap] of Object.entries(typeLimits)) {
        if (handlers.types.includes(type))
          batches.push({ types: [type], limit: cap - (counts.get(type) ?? 0) })
      }
      if (unlimited.length > 0) batches.push({ types: unlimited, limit: free })
      let claimedCount = 0
      for (const batch of batches) {
        const limit = Math.min(batch.limit, free - claimedCount)
        if (limit <= 0) continue
        // The claim and its `job-state` events commit together (one statement on Postgres).
        const claimed = yield* jobs.claimWithEvent(
          {
            owner,
            nodeId: options.nodeId,
            now,
            leaseExpiresAt: leaseUntil(now),
            types: batch.types,
            limit,
            ...(options.maxPerSession !== undefined ? { maxPerSession: options.maxPerSession } : {})
          },
          {
            type: "job-state",
            payload: { from: "queued", to: "running", event: "claim", owner },
            createdAt: now
          }
        )
        for (const { job, event } of claimed) {
          runningTypes.set(job.id, job.type)
          yield* FiberMap.run(fibers, job.id, runJob(job, event))
        }
        claimedCount += claimed.length
      }
      return claimedCount
    })

    const claimLoop = Effect.gen(function* () {
      while (true) {
        const claimed = yield* claimOnce.pipe(
          Effect.catchAll((error) => Effect.as(Effect.logWarning("job worker: claim failed", error), 0))
        )
        if (claimed > 0 && (yield* FiberMap.size(fibers)) < concurrency) continue
        yield* Queue.take(wake).pipe(Effect.timeout(Duration.millis(pollMs)), Effect.ignore)
      }
    })

    const heartbeatLoop = Effect.gen(function* () {
      const running = [...runningTypes.keys()]
      if (running.length === 0) return
      const lost = yield* jobs.heartbeat(owner, running, leaseUntil(yield* DateTime.now))
      for (const id of lost) {
        const current = yield* jobs.get(id).pipe(Effect.option)
        // A paused job finishes its current step and stops at the next boundary.
        if (Option.isSome(current) && current.value.state === "paused") continue
        stopReasons.set(id, Option.isSome(current) && current.value.state === "cancelled" ? "cancel" : "lost")
        yield* FiberMap.remove(fibers, id)
      }
    }).pipe(
      Effect.catchAll((error) => Effect.logWarning("job worker: heartbeat failed", error)),
      Effect.repeat(Schedule.spaced(Duration.millis(heartbeatMs)))
    )

    const sweepLoop = Effect.gen(function* () {
      const now = yield* DateTime.now
      // The requeue and its `job-state` events commit together.
      const expired = yield* transactor.withTransaction(
        Effect.flatMap(jobs.requeueExpired(now), (expired) =>
          Effect.map(
            eventLog.appendMany(
              expired.map((job) => ({
                jobId: job.id,
                type: "job-state",
                payload: { from: "running", to: "queued", event: "lease-expire", attempt: job.attempt },
                createdAt: now
              }))
            ),
            (events) => expired.map((job, i) => ({ job, event: events[i]! }))
          )
        )
      )
      for (const { job, event } of expired) yield* safely(provide(publishEvent(job, event)))
      if (expired.length > 0) yield* Queue.offer(wake, undefined)
    }).pipe(
      Effect.catchAll((error) => Effect.logWarning("job worker: lease sweep failed", error)),
      Effect.repeat(Schedule.spaced(Duration.millis(Math.max(50, leaseMs / 2))))
    )

    const controls = yield* bus.control
    const controlLoop = controls.pipe(
      Stream.runForEach((message) => {
        switch (message.kind) {
          case "wake":
            return Queue.offer(wake, undefined)
          case "cancel":
            return Effect.suspend(() => {
              if (!runningTypes.has(message.jobId)) return Effect.void
              stopReasons.set(message.jobId, "cancel")
              return FiberMap.remove(fibers, message.jobId)
            })
          case "pause":
            return Effect.void
        }
      })
    )

    yield* Effect.forkScoped(claimLoop)
    yield* Effect.forkScoped(heartbeatLoop)
    yield* Effect.forkScoped(sweepLoop)
    yield* Effect.forkScoped(controlLoop)
    // On shutdown: interrupt running handlers first (each releases its job), then the loops stop.
    yield* Effect.addFinalizer(() =>
      Effect.suspend(() => {
        for (const id of runningTypes.keys()) if (!stopReasons.has(id)) stopReasons.set(id, "shutdown")
        return FiberMap.clear(fibers)
      })
    )

    return {
      owner,
      running: Effect.sync(() => [...runningTypes.keys()])
    } satisfies JobWorker["Type"]
  })

/**
 * A worker as a layer (started when built, stopped when its scope closes).
 *
 * @since 0.1.0
 */
export const layer = (
  options: Options
): Layer.Layer<
  JobWorker,
  never,
  JobStore | TaskStore | EventLog | Transactor | EventBus.EventBus | JobHandlers.JobHandlers | IdGenerator
> => Layer.scoped(JobWorker, make(options))
