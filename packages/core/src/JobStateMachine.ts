/**
 * The one pure transition function for job states. Every component that changes a job's state (engine,
 * stores, API) asks it first; nothing else decides what is legal.
 *
 * ```
 *             claim              complete
 *   queued ─────────▶ running ─────────────▶ completed
 *     ▲ │  ◀─────────   │ │ │    fail
 *     │ │  retry /      │ │ └──────────────▶ failed
 *     │ │  lease-expire │ │ pause / await-approval
 *     │ │               │ ▼
 *     │ └──── pause ──▶ paused
 *     └───── resume ─────┘
 *   cancel: queued | running | paused ──▶ cancelled
 * ```
 *
 * @since 0.1.0
 */
import { Either, Schema } from "effect"
import type { JobState } from "./Domain.js"
import { IllegalTransition } from "./Errors.js"

/**
 * What can happen to a job.
 *
 * - `claim`: a worker takes a queued job (queued → running)
 * - `complete` / `fail`: the handler finished (running → completed | failed)
 * - `retry`: the attempt failed with a retryable error and attempts remain (running → queued)
 * - `lease-expire`: the worker stopped heartbeating (running → queued)
 * - `pause`: stop at the next step boundary (running | queued → paused)
 * - `await-approval`: a step asks a human (running → paused)
 * - `resume`: continue (paused → queued)
 * - `cancel`: stop for good (any non-terminal → cancelled)
 *
 * @since 0.1.0
 */
export const JobEventKind = Schema.Literal(
  "claim",
  "complete",
  "fail",
  "retry",
  "lease-expire",
  "pause",
  "await-approval",
  "resume",
  "cancel"
)
/** @since 0.1.0 */
export type JobEventKind = typeof JobEventKind.Type

/** All job states. @since 0.1.0 */
export const states: ReadonlyArray<JobState> = [
  "queued",
  "running",
  "paused",
  "completed",
  "failed",
  "cancelled"
]

/** All events. @since 0.1.0 */
export const events: ReadonlyArray<JobEventKind> = JobEventKind.literals

/** The states no event leaves. @since 0.1.0 */
export const terminalStates: ReadonlySet<JobState> = new Set<JobState>(["completed", "failed", "cancelled"])

/** @since 0.1.0 */
export const isTerminal = (state: JobState): boolean => terminalStates.has(state)

const table: { readonly [S in JobState]: Partial<Record<JobEventKind, JobState>> } = {
  queued: { claim: "running", pause: "paused", cancel: "cancelled" },
  running: {
    complete: "completed",
    fail: "failed",
    retry: "queued",
    "lease-expire": "queued",
    pause: "paused",
    "await-approval": "paused",
    cancel: "cancelled"
  },
  paused: { resume: "queued", cancel: "cancelled" },
  completed: {},
  failed: {},
  cancelled: {}
}

/**
 * The next state, or an `IllegalTransition` when `event` is not allowed in `state`.
 *
 * @since 0.1.0
 */
export const transition = (
  state: JobState,
  event: JobEventKind,
  jobId?: string
): Either.Either<JobState, IllegalTransition> => {
  const next = table[state][event]
  return next === undefined
    ? Either.left(new IllegalTransition({ from: state, event, ...(jobId !== undefined ? { jobId } : {}) }))
    : Either.right(next)
}

/**
 * Whether `event` is allowed in `state`.
 *
 * @since 0.1.0
 */
export const can = (state: JobState, event: JobEventKind): boolean => table[state][event] !== undefined

/**
 * The events allowed in `state` (for UIs: which buttons to show).
 *
 * @since 0.1.0
 */
export const allowedEvents = (state: JobState): ReadonlyArray<JobEventKind> =>
  events.filter((event) => can(state, event))
