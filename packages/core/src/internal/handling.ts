/**
 * Running a handler on one message with retries, shared by every `EventBus` implementation
 * (the in-process bus, the Kafka consumer) so that all of them retry and park in the same way.
 */
import { Cause, Data, DateTime, Duration, Effect, Schedule } from "effect"

/** @internal */
export class HandlerFailure extends Data.TaggedError("HandlerFailure")<{
  readonly error: string
  readonly errorType: string
}> {}

/** The runner stopped during a backoff: no further attempt. */
class Stopped extends Data.TaggedError("Stopped") {}

/** @internal */
export type Outcome =
  | { readonly _tag: "Handled"; readonly attempts: number }
  | {
      readonly _tag: "Failed"
      readonly error: string
      readonly errorType: string
      readonly attempts: number
      readonly firstFailureAt: DateTime.Utc
    }
  | { readonly _tag: "Abandoned"; readonly attempts: number }

const maxErrorLength = 2_000

const textOf = (value: unknown): string => {
  if (value instanceof Error) return value.message || value.name
  if (typeof value === "string") return value
  try {
    return JSON.stringify(value) ?? String(value)
  } catch {
    return String(value)
  }
}

/** The failure of a handler as text: its message, and its tag or class name. */
export const describe = <E>(cause: Cause.Cause<E>): HandlerFailure => {
  const squashed = Cause.squash(cause)
  const tag =
    typeof squashed === "object" && squashed !== null && "_tag" in squashed && typeof squashed._tag === "string"
      ? squashed._tag
      : undefined
  const errorType =
    tag ?? (squashed instanceof Error ? squashed.name : Cause.hasDies(cause) ? "Defect" : typeof squashed)
  const text = textOf(squashed)
  const error = text.length > maxErrorLength ? `${text.slice(0, maxErrorLength)}...` : text
  return new HandlerFailure({ error, errorType })
}

/**
 * Run `attempt` (given its number, 1 for the first) until it succeeds (`Handled`), the schedule
 * gives up (`Failed`) or the runner stops (`Abandoned`). Failures and defects are retried alike;
 * interruption is not caught. Once `stopped` completes no further attempt is made and a backoff
 * in progress is cut short, but the attempt in progress is never interrupted here: the stop is
 * only watched while the schedule waits between attempts.
 *
 * @internal
 */
export const retryUntilStopped = <E, R>(
  attempt: (attempt: number) => Effect.Effect<void, E, R>,
  schedule: Schedule.Schedule<unknown, unknown>,
  stopped: Effect.Effect<void>
): Effect.Effect<Outcome, never, R> =>
  Effect.suspend(() => {
    let attempts = 0
    let firstFailureAt: DateTime.Utc | undefined

    const once = Effect.suspend(() => attempt(++attempts)).pipe(
      Effect.catchCause((cause) =>
        // interrupted from outside (the runner's stop timed out): not a failure of the handler
        Cause.hasInterruptsOnly(cause)
          ? Effect.interrupt
          : Effect.gen(function* () {
              if (firstFailureAt === undefined) firstFailureAt = yield* DateTime.now
              const failure = describe(cause)
              yield* Effect.logWarning(`handler failed on attempt ${attempts}: ${failure.error}`)
              return yield* failure
            })
      )
    )

    // The backoff is waited out in the schedule's own decision, racing the stop signal, so
    // that a stop cuts it short: Effect.retry then sleeps for nothing.
    const backoff = schedule.pipe(
      Schedule.modifyDelay(({ duration }) =>
        Effect.raceFirst(
          Effect.sleep(duration).pipe(Effect.as(Duration.zero)),
          stopped.pipe(Effect.andThen(Effect.fail(new Stopped())))
        )
      )
    )

    return once.pipe(
      Effect.retry(backoff),
      Effect.map((): Outcome => ({ _tag: "Handled", attempts })),
      Effect.catchTags({
        Stopped: (): Effect.Effect<Outcome> => Effect.succeed({ _tag: "Abandoned", attempts }),
        HandlerFailure: (failure): Effect.Effect<Outcome> =>
          Effect.map(
            firstFailureAt === undefined ? DateTime.now : Effect.succeed(firstFailureAt),
            (at): Outcome => ({
              _tag: "Failed",
              error: failure.error,
              errorType: failure.errorType,
              attempts,
              firstFailureAt: at
            })
          )
      })
    )
  })
