/**
 * Liveness and readiness. `GET /health/live` answers 200 while the process runs;
 * `GET /health/ready` runs every check (each bounded by a timeout) and answers 200 with their
 * results, or 503 (problem+json with `checks`) naming each failing one: the store unreachable or
 * not migrated (`PgHealth.store` in @eventline/postgres), a projection lagging, a broker down, the
 * service shutting down. A check that passes with a problem to report (an appending transaction
 * held open, `PgHealth.appendsHeldOpen`) is "degraded": still 200, with `status: "degraded"` and
 * the check's detail. A check is any `{ name, run }`, so adapters provide theirs without
 * depending on this package.
 *
 * @since 0.1.0
 */
import type { Errors } from "@eventline/core"
import { Context, Duration, Effect, Layer, Schema } from "effect"
import { type HttpApi, HttpApiBuilder, HttpApiEndpoint, HttpApiGroup, HttpApiSchema, OpenApi } from "effect/http-api"
import * as Problem from "./Problem.ts"
import * as Shutdown from "./Shutdown.ts"

/**
 * @category schemas
 * @since 0.1.0
 */
export const CheckResult = Schema.Struct({
  name: Schema.String,
  status: Schema.Literals(["up", "degraded", "down"]),
  detail: Schema.optionalKey(Schema.String)
})

/**
 * @category models
 * @since 0.1.0
 */
export type CheckResult = typeof CheckResult.Type

/**
 * @category schemas
 * @since 0.1.0
 */
export const Report = Schema.Struct({
  /** "degraded" (since 0.3.0): every check passed, some reported a problem. */
  status: Schema.Literals(["ready", "degraded"]),
  checks: Schema.Array(CheckResult)
})

/**
 * 503 from readiness: the problem, with every check's result.
 *
 * @category errors
 * @since 0.1.0
 */
export class NotReady extends Schema.Error<NotReady>("@eventline/http/Health/NotReady")(
  { ...Problem.fields, checks: Schema.Array(CheckResult) },
  { httpApiStatus: 503, description: "Not ready: `checks` names each failing check." }
) {}

/**
 * `GET /health/live` and `GET /health/ready`.
 *
 * @category api
 * @since 0.1.0
 */
export class Group extends HttpApiGroup.make("health")
  .add(
    HttpApiEndpoint.get("live", "/health/live", {
      success: Schema.Struct({ status: Schema.Literal("ok") })
    }).annotate(OpenApi.Description, "200 while the process runs."),
    HttpApiEndpoint.get("ready", "/health/ready", {
      success: Report,
      error: NotReady.pipe(HttpApiSchema.asJson({ contentType: Problem.contentType }))
    }).annotate(
      OpenApi.Description,
      '200 when every check passes (status "degraded" when some report a problem), else 503 naming the failing ones.'
    )
  )
  .annotate(OpenApi.Title, "Health") {}

/**
 * What a check that passed returns to report a problem: readiness stays 200, the check shows as
 * "degraded" with this detail.
 *
 * @category models
 * @since 0.3.0
 */
export interface Degraded {
  readonly degraded: string
}

const isDegraded = (outcome: unknown): outcome is Degraded =>
  typeof outcome === "object" &&
  outcome !== null &&
  "degraded" in outcome &&
  typeof (outcome as { readonly degraded: unknown }).degraded === "string"

/**
 * One readiness check: it fails with the reason it is not ready, or succeeds with `Degraded`.
 *
 * @category models
 * @since 0.1.0
 */
export interface Check {
  readonly name: string
  // biome-ignore lint/suspicious/noConfusingVoidType: checks that only pass or fail return Effect<void>
  readonly run: Effect.Effect<void | Degraded, string>
}

/**
 * @category services
 * @since 0.1.0
 */
export class HealthChecks extends Context.Service<HealthChecks, ReadonlyArray<Check>>()(
  "@eventline/http/Health/HealthChecks"
) {}

/**
 * @category layers
 * @since 0.1.0
 */
export const layer = <R>(checks: ReadonlyArray<Effect.Effect<Check, never, R>>): Layer.Layer<HealthChecks, never, R> =>
  Layer.effect(HealthChecks, Effect.all(checks))

/**
 * @category handlers
 * @since 0.1.0
 */
export const live = Effect.succeed({ status: "ok" as const })

/**
 * Run every check (concurrently, each at most `timeout`, default 2 seconds).
 *
 * @category handlers
 * @since 0.1.0
 */
export const ready = (timeout: Duration.Input = "2 seconds") =>
  Effect.gen(function* () {
    const checks = yield* HealthChecks
    const results = yield* Effect.forEach(
      checks,
      (check): Effect.Effect<CheckResult> =>
        check.run.pipe(
          Effect.timeoutOrElse({
            duration: timeout,
            orElse: () => Effect.fail(`no answer within ${Duration.format(Duration.fromInputUnsafe(timeout))}`)
          }),
          Effect.match({
            // a check typed as returning void may hand back any value: only a Degraded counts
            onSuccess: (outcome): CheckResult =>
              isDegraded(outcome)
                ? { name: check.name, status: "degraded", detail: outcome.degraded }
                : { name: check.name, status: "up" },
            onFailure: (detail) => ({ name: check.name, status: "down" as const, detail })
          })
        ),
      { concurrency: "unbounded" }
    )
    const down = results.filter((result) => result.status === "down")
    if (down.length > 0) {
      return yield* new NotReady({
        type: Problem.types.unavailable,
        title: "Not ready",
        status: 503,
        detail: down.map((result) => `${result.name}: ${result.detail ?? "down"}`).join("; "),
        checks: results
      })
    }
    const degraded = results.some((result) => result.status === "degraded")
    return { status: degraded ? ("degraded" as const) : ("ready" as const), checks: results }
  })

/**
 * What `subscriptionLag` needs of a subscription: its name and how far behind the log it is (a
 * subscription's handle has this shape).
 *
 * @category models
 * @since 0.2.0
 */
export interface Lagging {
  readonly name: string
  readonly lag: Effect.Effect<{ readonly events: number }, Errors.InfrastructureError>
}

/**
 * A subscription (a projection, a process manager) is at most `maxEvents` behind the log.
 *
 * @category checks
 * @since 0.1.0
 */
export const subscriptionLag = (handle: Lagging, maxEvents: number): Effect.Effect<Check> =>
  Effect.succeed({
    name: `subscription:${handle.name}`,
    run: handle.lag.pipe(
      Effect.mapError((error) => `lag unknown: ${error.message}`),
      Effect.flatMap((lag) =>
        lag.events > maxEvents ? Effect.fail(`${lag.events} events behind (at most ${maxEvents} allowed)`) : Effect.void
      )
    )
  })

/**
 * Not shutting down.
 *
 * @category checks
 * @since 0.1.0
 */
export const notDraining: Effect.Effect<Check, never, Shutdown.Shutdown> = Effect.map(
  Shutdown.Shutdown,
  (shutdown) => ({
    name: "shutdown",
    run: Effect.flatMap(shutdown.isDraining, (draining) => (draining ? Effect.fail("shutting down") : Effect.void))
  })
)

/**
 * The handlers of `Group` (readiness runs the `HealthChecks` in context), for an API that
 * includes the group.
 *
 * @category layers
 * @since 0.2.0
 */
export const layerHandlers = <ApiId extends string, Groups extends HttpApiGroup.Constraint>(
  api: HttpApi.HttpApi<ApiId, Groups | typeof Group>,
  options?: { readonly timeout?: Duration.Input | undefined }
) =>
  // only this group of the API is used; seeing the API as having just it keeps the types concrete
  HttpApiBuilder.group(api as HttpApi.HttpApi<ApiId, typeof Group>, "health", (handlers) =>
    handlers.handle("live", () => live).handle("ready", () => ready(options?.timeout))
  )
