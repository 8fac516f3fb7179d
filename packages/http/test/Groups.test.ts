/**
 * An application's own HttpApi built from the reusable groups (streams, events + SSE tail, health,
 * metrics) and its own command group, with the body guard and idempotency declared on that group
 * only, called over real HTTP.
 */
import { assert, layer } from "@effect/vitest"
import { EventStore, ExpectedVersion, IdempotencyStore, InMemoryEventStore, Instrumentation } from "@eventline/core"
import { Effect, Layer, References, Schema } from "effect"
import { HttpApi, HttpApiBuilder, HttpApiEndpoint, HttpApiGroup } from "effect/http-api"
import { Health, Metrics, Middleware, Problem, RequestContext, Server, Streams } from "../src/index.ts"

let notes = 0

class Notes extends HttpApiGroup.make("notes")
  .add(
    HttpApiEndpoint.post("add", "/notes", {
      payload: Schema.Struct({ text: Schema.String }),
      success: Schema.Struct({ n: Schema.Int, requestId: Schema.String }),
      error: Problem.commandErrors
    })
  )
  .middleware(Middleware.Problems)
  .middleware(Middleware.IdempotencyKeys)
  .middleware(Middleware.BodyGuard)
  .middleware(Middleware.RequestIds) {}

class Unguarded extends HttpApiGroup.make("unguarded").add(
  HttpApiEndpoint.post("count", "/count", { success: Schema.Struct({ n: Schema.Int }) })
) {}

// the application's API: four reusable groups and two of its own
class Api extends HttpApi.make("app")
  .add(Streams.Group)
  .add(Health.Group)
  .add(Metrics.Group)
  .add(Notes)
  .add(Unguarded) {}

const NotesHandlers = HttpApiBuilder.group(Api, "notes", (handlers) =>
  handlers.handle("add", () =>
    Effect.map(RequestContext.RequestContext, (request) => ({ n: ++notes, requestId: request.requestId }))
  )
)
const UnguardedHandlers = HttpApiBuilder.group(Api, "unguarded", (handlers) =>
  handlers.handle("count", () => Effect.sync(() => ({ n: ++notes })))
)

const Routes = HttpApiBuilder.layer(Api).pipe(
  Layer.provide([
    Streams.layerHandlers(Api),
    Health.layerHandlers(Api),
    Metrics.layerHandlers(Api),
    NotesHandlers,
    UnguardedHandlers
  ]),
  Layer.provide(Middleware.layer({ maxBodySize: 64 }))
)

// the global pipeline keeps ids, logging and the last-resort problems; the guard and
// idempotency apply where a group declares them
const TestServer = Server.layer(Routes, { port: 0, host: "127.0.0.1", bodyGuard: false, idempotency: false }).pipe(
  Layer.provide([Health.layer<never>([]), IdempotencyStore.layerMemory]),
  Layer.provideMerge(Instrumentation.layerStore),
  Layer.provideMerge(InMemoryEventStore.layer),
  // tests log at Warn: the request log lines are Info
  Layer.provideMerge(Layer.succeed(References.MinimumLogLevel, "Warn"))
)

const call = (port: number, method: string, path: string, init?: { body?: string; headers?: Record<string, string> }) =>
  Effect.promise(async () => {
    const response = await fetch(`http://127.0.0.1:${port}${path}`, { method, ...init })
    return { status: response.status, headers: response.headers, text: await response.text() }
  })

layer(TestServer, { excludeTestServices: true })("reusable groups in an application's HttpApi", (it) => {
  it.effect("streams, events, health and metrics answer from the groups' handler layers", () =>
    Effect.gen(function* () {
      const port = yield* Server.port
      const store = yield* EventStore.EventStore
      yield* store.append(
        "s-1",
        ExpectedVersion.NoStream,
        [
          {
            type: "Noted",
            schemaVersion: 1,
            data: {},
            metadata: { correlationId: "c", occurredAt: "2026-01-01T00:00:00.000Z" }
          }
        ],
        { streamType: "Note" }
      )
      const stream = yield* call(port, "GET", "/streams/s-1")
      assert.strictEqual(stream.status, 200)
      assert.strictEqual(stream.headers.get("etag"), '"1"')
      const missing = yield* call(port, "GET", "/streams/none")
      assert.strictEqual(missing.status, 404)
      assert.strictEqual(missing.headers.get("content-type"), Problem.contentType)
      const log = yield* call(port, "GET", "/events")
      assert.strictEqual(JSON.parse(log.text).events.length, 1)
      assert.strictEqual((yield* call(port, "GET", "/health/ready")).status, 200)
      const metrics = yield* call(port, "GET", "/metrics")
      assert.include(metrics.text, "eventline_appends_total")

      // the SSE tail: effect's Sse framing, id = position
      const first = yield* Effect.promise(async () => {
        const controller = new AbortController()
        const response = await fetch(`http://127.0.0.1:${port}/events/live`, { signal: controller.signal })
        const reader = response.body?.getReader()
        let text = ""
        while (reader !== undefined && !text.includes("data:")) {
          const chunk = await reader.read()
          if (chunk.done) break
          text += new TextDecoder().decode(chunk.value)
        }
        controller.abort()
        return { type: response.headers.get("content-type"), text }
      })
      assert.strictEqual(first.type, "text/event-stream")
      assert.match(first.text, /^retry: 1000\n\nid: \S+\ndata: \{/)
    })
  )

  it.effect("the group's middlewares guard its bodies and honour Idempotency-Key; another group has neither", () =>
    Effect.gen(function* () {
      const port = yield* Server.port
      const wrongType = yield* call(port, "POST", "/notes", { body: "{}", headers: { "content-type": "text/plain" } })
      assert.strictEqual(wrongType.status, 415)
      const tooLarge = yield* call(port, "POST", "/notes", {
        body: JSON.stringify({ text: "x".repeat(100) }),
        headers: { "content-type": "application/json" }
      })
      assert.strictEqual(tooLarge.status, 413)
      const invalid = yield* call(port, "POST", "/notes", {
        body: '{"text":1}',
        headers: { "content-type": "application/json", "x-request-id": "req-1" }
      })
      assert.strictEqual(invalid.status, 400)
      assert.deepInclude(JSON.parse(invalid.text), { requestId: "req-1", instance: "/notes" })

      const init = { body: '{"text":"a"}', headers: { "content-type": "application/json", "idempotency-key": "k" } }
      const first = yield* call(port, "POST", "/notes", init)
      const again = yield* call(port, "POST", "/notes", init)
      assert.strictEqual(again.text, first.text)
      assert.strictEqual(again.headers.get("idempotent-replayed"), "true")

      const keyed = { headers: { "idempotency-key": "k2" } }
      const one = yield* call(port, "POST", "/count", keyed)
      const two = yield* call(port, "POST", "/count", keyed)
      assert.notStrictEqual(one.text, two.text)
    })
  )
})
