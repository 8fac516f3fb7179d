/**
 * Running a handler on one message with retries, shared by the Kafka consumer and the
 * in-process bus so that both retry and park in the same way.
 */
import type { EventEnvelope } from "@eventline/core"
import { Cause, Clock, Data, DateTime, Effect, Exit, Option, Pull, Schedule } from "effect"
import type { Delivery, Handler } from "../EventBus.ts"

/** @internal */
export class HandlerFailure extends Data.TaggedError("HandlerFailure")<{
  readonly error: string
  readonly errorType: string
}> {}

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

/** The failure of a handler as text: its message, and its tag or class name. */
export const describe = <E>(cause: Cause.Cause<E>): HandlerFailure => {
  const squashed = Cause.squash(cause)
  const tag =
    typeof squashed === "object" && squashed !== null && "_tag" in squashed && typeof squashed._tag === "string"
      ? squashed._tag
      : undefined
  const errorType =
    tag ?? (squashed instanceof Error ? squashed.name : Cause.hasDies(cause) ? "Defect" : typeof squashed)
  const text =
    squashed instanceof Error
      ? squashed.message || squashed.name
      : typeof squashed === "string"
        ? squashed
        : (() => {
            try {
              return JSON.stringify(squashed) ?? String(squashed)
            } catch {
              return String(squashed)
            }
          })()
  const error = text.length > maxErrorLength ? `${text.slice(0, maxErrorLength)}...` : text
  return new HandlerFailure({ error, errorType })
}

/**
 * Run `handler` until it succeeds, the schedule gives up (`Failed`) or the runner stops
 * (`Abandoned`): once `stopped` completes, no further attempt is made and a backoff in
 * progress is cut short; the attempt in progress is never interrupted here. Failures and
 * defects are retried alike; interruption is not caught.
 *
 * @internal
 */
export const handleWithRetries = <E, R>(
  handler: Handler<E, R>,
  event: EventEnvelope.RecordedEvent,
  delivery: Omit<Delivery, "attempt">,
  schedule: Schedule.Schedule<unknown, unknown>,
  stopped: Effect.Effect<void>
): Effect.Effect<Outcome, never, R> =>
  Effect.gen(function* () {
    const step = yield* Schedule.toStep(schedule)
    let firstFailureAt: DateTime.Utc | undefined
    for (let attempts = 1; ; attempts++) {
      const exit = yield* Effect.exit(Effect.suspend(() => handler(event, { ...delivery, attempt: attempts })))
      if (Exit.isSuccess(exit)) return { _tag: "Handled", attempts } satisfies Outcome
      // interrupted from outside (the runner's stop timed out): not a failure of the handler
      if (Cause.hasInterruptsOnly(exit.cause)) return yield* Effect.interrupt
      if (firstFailureAt === undefined) firstFailureAt = yield* DateTime.now
      const failure = describe(exit.cause)
      yield* Effect.logWarning(`handler failed on attempt ${attempts}: ${failure.error}`).pipe(
        Effect.annotateLogs({ eventId: event.eventId, eventType: event.type })
      )
      const delay = yield* step(yield* Clock.currentTimeMillis, failure).pipe(
        Effect.map(([, delay]) => Option.some(delay)),
        Pull.catchDone(() => Effect.succeedNone)
      )
      if (Option.isNone(delay)) {
        return {
          _tag: "Failed",
          error: failure.error,
          errorType: failure.errorType,
          attempts,
          firstFailureAt
        } satisfies Outcome
      }
      const stopping = yield* Effect.raceFirst(
        Effect.sleep(delay.value).pipe(Effect.as(false)),
        stopped.pipe(Effect.as(true))
      )
      if (stopping) return { _tag: "Abandoned", attempts } satisfies Outcome
    }
  })
