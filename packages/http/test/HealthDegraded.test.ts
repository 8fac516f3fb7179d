/**
 * Readiness with a degraded check: still 200, the report and the check say "degraded" with the
 * check's detail; a failing check still gives 503. Called over real HTTP.
 */
import { assert, layer } from "@effect/vitest"
import { IdempotencyStore, InMemoryEventStore, Instrumentation } from "@eventline/core"
import { Context, Effect, Layer, Ref, References } from "effect"
import { HttpApi, HttpApiBuilder } from "effect/http-api"
import { Health, Server } from "../src/index.ts"

class Api extends HttpApi.make("health-only").add(Health.Group) {}

type Outcome = "up" | "degraded" | "down"

class StateRef extends Context.Service<StateRef, Ref.Ref<Outcome>>()("test/HealthDegraded/State") {}

const TestServer = Layer.unwrap(
  Effect.map(Ref.make<Outcome>("up"), (state) => {
    const check: Health.Check = {
      name: "appends-held-open",
      run: Effect.flatMap(Ref.get(state), (now) =>
        now === "up"
          ? Effect.void
          : now === "degraded"
            ? Effect.succeed({ degraded: "pid 42 (31.0 s)" })
            : Effect.fail("unreachable")
      )
    }
    const always: Health.Check = { name: "always", run: Effect.void }
    return Server.layer(HttpApiBuilder.layer(Api).pipe(Layer.provide(Health.layerHandlers(Api))), {
      port: 0,
      host: "127.0.0.1",
      bodyGuard: false,
      idempotency: false
    }).pipe(
      Layer.provide([
        Health.layer<never>([Effect.succeed(check), Effect.succeed(always)]),
        IdempotencyStore.layerMemory
      ]),
      Layer.provideMerge(Layer.succeed(StateRef, state))
    )
  })
).pipe(
  Layer.provideMerge(Instrumentation.layerStore),
  Layer.provideMerge(InMemoryEventStore.layer),
  Layer.provideMerge(Layer.succeed(References.MinimumLogLevel, "Warn"))
)

const ready = (port: number) =>
  Effect.promise(async () => {
    const response = await fetch(`http://127.0.0.1:${port}/health/ready`)
    return { status: response.status, body: (await response.json()) as Record<string, unknown> }
  })

layer(TestServer, { excludeTestServices: true })("readiness with a degraded check", (it) => {
  it.effect("answers 200 with status degraded and the detail; a failing check still gives 503", () =>
    Effect.gen(function* () {
      const port = yield* Server.port
      const state = yield* StateRef
      const up = yield* ready(port)
      assert.strictEqual(up.status, 200)
      assert.strictEqual(up.body.status, "ready")

      yield* Ref.set(state, "degraded")
      const degraded = yield* ready(port)
      assert.strictEqual(degraded.status, 200)
      assert.strictEqual(degraded.body.status, "degraded")
      assert.deepStrictEqual(degraded.body.checks, [
        { name: "appends-held-open", status: "degraded", detail: "pid 42 (31.0 s)" },
        { name: "always", status: "up" }
      ])

      yield* Ref.set(state, "down")
      const down = yield* ready(port)
      assert.strictEqual(down.status, 503)
    })
  )
})
