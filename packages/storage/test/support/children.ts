/**
 * Runs the TypeScript fixtures under `test/fixtures/` as real child processes, straight from the sources:
 * `node --import tsx --conditions=@lathe/source <fixture>.ts …` (no build, no pnpm wrapper in between).
 */
import { fileURLToPath } from "node:url"
import { Command, type CommandExecutor } from "@effect/platform"
import type { PlatformError } from "@effect/platform/Error"
import { Duration, Effect, Fiber, Ref, type Scope, Stream } from "effect"

const packageRoot = fileURLToPath(new URL("../..", import.meta.url))

/** The command that runs `test/fixtures/<name>.ts` with `args`. */
export const fixtureCommand = (name: string, args: ReadonlyArray<string>): Command.Command =>
  Command.make(
    process.execPath,
    "--import",
    "tsx",
    "--conditions=@lathe/source",
    fileURLToPath(new URL(`../fixtures/${name}.ts`, import.meta.url)),
    ...args
  ).pipe(Command.workingDirectory(packageRoot))

/** A running fixture whose stdout lines are collected as they arrive. */
export interface Child {
  readonly pid: number
  /** Lines printed so far. */
  readonly lines: Effect.Effect<ReadonlyArray<string>>
  /** What it printed on stderr so far. */
  readonly stderr: Effect.Effect<string>
  /** Waits until the lines printed so far satisfy `done`; fails when the child exits first or time runs out. */
  readonly waitFor: (
    done: (lines: ReadonlyArray<string>) => boolean,
    timeout?: Duration.DurationInput
  ) => Effect.Effect<void, Error>
  /** Sends SIGKILL and waits for the process to end. */
  readonly kill: Effect.Effect<void>
  /** Waits for the exit and every line it printed; fails (with stderr) on a non-zero exit or a signal. */
  readonly finish: Effect.Effect<ReadonlyArray<string>, Error>
  /** Waits for the process to end (however it ends) and returns every line it printed. */
  readonly drain: Effect.Effect<ReadonlyArray<string>>
}

/** Starts `test/fixtures/<name>.ts`; the process is killed when the scope closes if still running. */
export const startFixture = (
  name: string,
  args: ReadonlyArray<string>
): Effect.Effect<Child, PlatformError, Scope.Scope | CommandExecutor.CommandExecutor> =>
  Effect.gen(function* () {
    const proc = yield* Command.start(fixtureCommand(name, args))
    const lines = yield* Ref.make<ReadonlyArray<string>>([])
    const stderr = yield* Ref.make("")
    const out = yield* proc.stdout.pipe(
      Stream.decodeText(),
      Stream.splitLines,
      Stream.runForEach((line) => Ref.update(lines, (all) => [...all, line])),
      Effect.ignore,
      Effect.forkScoped
    )
    const err = yield* proc.stderr.pipe(
      Stream.decodeText(),
      Stream.runForEach((text) => Ref.update(stderr, (all) => all + text)),
      Effect.ignore,
      Effect.forkScoped
    )
    const output = Effect.zipRight(Fiber.join(err), Fiber.join(out)).pipe(Effect.zipRight(Ref.get(lines)))
    const failure = (why: string) =>
      Effect.flatMap(Ref.get(stderr), (text) =>
        Effect.fail(new Error(`fixture ${name} ${why}${text ? `; stderr:\n${text}` : ""}`))
      )
    const waitFor = (
      done: (lines: ReadonlyArray<string>) => boolean,
      timeout: Duration.DurationInput = "60 seconds"
    ): Effect.Effect<void, Error> =>
      Effect.gen(function* () {
        while (true) {
          if (done(yield* Ref.get(lines))) return
          if (!(yield* Effect.orElseSucceed(proc.isRunning, () => false))) {
            yield* Fiber.join(out)
            if (done(yield* Ref.get(lines))) return
            return yield* failure("exited before it printed what the test waits for")
          }
          yield* Effect.sleep("5 millis")
        }
      }).pipe(
        Effect.timeoutFail({
          duration: timeout,
          onTimeout: () =>
            new Error(
              `fixture ${name} did not print what the test waits for within ${Duration.format(Duration.decode(timeout))}`
            )
        })
      )
    return {
      pid: proc.pid,
      lines: Ref.get(lines),
      stderr: Ref.get(stderr),
      waitFor,
      kill: proc.kill("SIGKILL").pipe(Effect.ignore),
      finish: proc.exitCode.pipe(
        Effect.catchAll(() => failure("was killed by a signal")),
        Effect.flatMap((code) => (code === 0 ? output : failure(`exited with code ${code}`)))
      ),
      drain: proc.exitCode.pipe(Effect.ignore, Effect.zipRight(output))
    }
  })
