import { describe, expect, it } from "@effect/vitest"
import { Either } from "effect"
import fc from "fast-check"
import type { JobState } from "../src/Domain.js"
import * as Machine from "../src/JobStateMachine.js"

// The specification, written independently of the implementation's table: the legal (from, event, to)
// triples of ARCHITECTURE.md (Jobs). The property tests compare the implementation against it.
const legal: ReadonlyArray<readonly [JobState, Machine.JobEventKind, JobState]> = [
  ["queued", "claim", "running"],
  ["queued", "pause", "paused"],
  ["queued", "cancel", "cancelled"],
  ["running", "complete", "completed"],
  ["running", "fail", "failed"],
  ["running", "retry", "queued"],
  ["running", "lease-expire", "queued"],
  ["running", "pause", "paused"],
  ["running", "await-approval", "paused"],
  ["running", "cancel", "cancelled"],
  ["paused", "resume", "queued"],
  ["paused", "cancel", "cancelled"]
]
const spec = new Map(legal.map(([from, event, to]) => [`${from}/${event}`, to]))

const state = fc.constantFrom(...Machine.states)
const event = fc.constantFrom(...Machine.events)

describe("JobStateMachine", () => {
  it("accepts exactly the specified transitions and nothing else", () => {
    fc.assert(
      fc.property(state, event, (from, ev) => {
        const result = Machine.transition(from, ev)
        const expected = spec.get(`${from}/${ev}`)
        if (expected === undefined) {
          expect(Either.isLeft(result)).toBe(true)
          expect(Machine.can(from, ev)).toBe(false)
        } else {
          expect(result).toEqual(Either.right(expected))
          expect(Machine.can(from, ev)).toBe(true)
        }
      })
    )
  })

  it("never accepts an illegal transition along any event sequence, and terminal states absorb", () => {
    fc.assert(
      fc.property(fc.array(event, { maxLength: 60 }), (sequence) => {
        let current: JobState = "queued"
        let reachedTerminal = false
        for (const ev of sequence) {
          const result = Machine.transition(current, ev, "job-1")
          if (Either.isRight(result)) {
            expect(reachedTerminal).toBe(false)
            expect(spec.get(`${current}/${ev}`)).toBe(result.right)
            current = result.right
          } else {
            expect(result.left._tag).toBe("IllegalTransition")
            expect(result.left.from).toBe(current)
            expect(result.left.event).toBe(ev)
            expect(result.left.jobId).toBe("job-1")
          }
          if (Machine.isTerminal(current)) reachedTerminal = true
        }
      }),
      { numRuns: 2000 }
    )
  })

  it("terminal states accept no event", () => {
    fc.assert(
      fc.property(fc.constantFrom(...Machine.terminalStates), event, (terminal, ev) => {
        expect(Either.isLeft(Machine.transition(terminal, ev))).toBe(true)
      })
    )
    for (const terminal of Machine.terminalStates) expect(Machine.allowedEvents(terminal)).toEqual([])
  })

  it("every state, terminal ones included, is reachable from queued", () => {
    const reached = new Set<JobState>(["queued"])
    const frontier: Array<JobState> = ["queued"]
    while (frontier.length > 0) {
      const from = frontier.pop()!
      for (const ev of Machine.events) {
        const next = Machine.transition(from, ev)
        if (Either.isRight(next) && !reached.has(next.right)) {
          reached.add(next.right)
          frontier.push(next.right)
        }
      }
    }
    expect([...reached].sort()).toEqual([...Machine.states].sort())
  })

  it("cancel succeeds from every non-terminal state; resume only from paused; lease expiry requeues", () => {
    fc.assert(
      fc.property(state, (from) => {
        expect(Either.isRight(Machine.transition(from, "cancel"))).toBe(!Machine.isTerminal(from))
        expect(Machine.can(from, "resume")).toBe(from === "paused")
      })
    )
    expect(Machine.transition("running", "lease-expire")).toEqual(Either.right("queued"))
    expect(Machine.transition("paused", "resume")).toEqual(Either.right("queued"))
  })

  it("the IllegalTransition error explains itself and maps to 409", async () => {
    const { httpStatus } = await import("../src/Errors.js")
    const result = Machine.transition("completed", "resume", "job-7")
    expect(Either.isLeft(result)).toBe(true)
    if (Either.isLeft(result)) {
      expect(result.left.message).toBe("job job-7 cannot 'resume' while completed")
      expect(httpStatus(result.left)).toBe(409)
    }
  })
})
