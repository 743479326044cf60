import { describe, expect, it } from "@effect/vitest"
import { Schema } from "effect"
import * as Errors from "../src/Errors.js"

describe("Errors", () => {
  it("maps each boundary error to its HTTP status, and unknown failures to 500", () => {
    expect(Errors.httpStatus(new Errors.ValidationError({ message: "bad", fields: {} }))).toBe(400)
    expect(Errors.httpStatus(new Errors.Unauthorized({ message: "no token" }))).toBe(401)
    expect(Errors.httpStatus(new Errors.PolicyDenied({ reason: "path", message: "escape" }))).toBe(403)
    expect(Errors.httpStatus(new Errors.NotFound({ entity: "job", id: "j1" }))).toBe(404)
    expect(Errors.httpStatus(new Errors.Conflict({ message: "raced" }))).toBe(409)
    expect(Errors.httpStatus(new Errors.PayloadTooLarge({ message: "big", limitBytes: 10 }))).toBe(413)
    expect(Errors.httpStatus(new Errors.RateLimited({ message: "slow down", retryAfterMs: 1000 }))).toBe(429)
    expect(Errors.httpStatus(new Errors.ModelNotConfigured({ message: "set LATHE_MODEL" }))).toBe(503)
    expect(Errors.httpStatus(new Error("boom"))).toBe(500)
    expect(Errors.httpStatus("not even an error")).toBe(500)
  })

  it("reads retryability from the instance first, then the class default", () => {
    const model = (retryable: boolean) =>
      new Errors.ModelError({ message: "x", provider: "openai", model: "m", retryable })
    expect(Errors.isRetryable(model(true))).toBe(true)
    expect(Errors.isRetryable(model(false))).toBe(false)
    expect(Errors.isRetryable(new Errors.RateLimited({ message: "x", retryAfterMs: 5 }))).toBe(true)
    expect(Errors.isRetryable(new Errors.ValidationError({ message: "x", fields: {} }))).toBe(false)
    expect(Errors.isRetryable(new Error("plain"))).toBe(false)
  })

  it("NotFound has a readable message", () => {
    expect(new Errors.NotFound({ entity: "session", id: "s1" }).message).toBe('session "s1" not found')
  })

  it("stores a Lathe error losslessly and decodes it back to the same class", () => {
    const original = new Errors.ToolError({
      tool: "npm.install",
      message: "no such package",
      code: "E404",
      retryable: false
    })
    const info = Errors.toErrorInfo(original, "install")
    expect(info).toMatchObject({
      tag: "ToolError",
      message: "no such package",
      retryable: false,
      step: "install"
    })
    const json = JSON.parse(JSON.stringify(info))
    const decoded = Schema.decodeUnknownSync(Errors.LatheError)(json.error)
    expect(decoded).toBeInstanceOf(Errors.ToolError)
    expect(decoded).toEqual(original)
  })

  it("summarises foreign failures without stacks", () => {
    const info = Errors.toErrorInfo(new TypeError("cannot read x"))
    expect(info).toEqual({ tag: "TypeError", message: "cannot read x", retryable: false })
    expect(Errors.toErrorInfo({ _tag: "SqlError", message: "db gone" }).tag).toBe("SqlError")
    expect(Errors.toErrorInfo(42)).toEqual({ tag: "Unknown", message: "42", retryable: false })
  })
})
