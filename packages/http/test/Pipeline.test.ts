/**
 * The pipeline on a small API of its own (no store): problem+json for every failure, a 500
 * without internals, request ids, idempotency with the in-memory store, and the pure helpers.
 */
import { assert, describe, it, layer } from "@effect/vitest"
import { IdempotencyStore } from "@eventline/core"
import { Effect, Layer, References, Schema } from "effect"
import { HttpApi, HttpApiBuilder, HttpApiEndpoint, HttpApiGroup } from "effect/http-api"
import { Pipeline, Preconditions, Problem, RequestContext, Server } from "../src/index.ts"

let executions = 0

class TestGroup extends HttpApiGroup.make("test").add(
  HttpApiEndpoint.post("echo", "/echo", {
    payload: Schema.Struct({ name: Schema.String, count: Schema.Int }),
    success: Schema.Struct({
      name: Schema.String,
      count: Schema.Int,
      requestId: Schema.String,
      executions: Schema.Int
    }),
    error: Problem.commandErrors
  }),
  HttpApiEndpoint.get("boom", "/boom", { success: Schema.String, error: Problem.queryErrors }),
  HttpApiEndpoint.get("missing", "/missing/:id", { params: { id: Schema.String }, error: Problem.queryErrors })
) {}

class TestApi extends HttpApi.make("test")
  .add(TestGroup)
  .annotate(HttpApi.PayloadParseOptions, { onExcessProperty: "error", errors: "all" }) {}

const Handlers = HttpApiBuilder.group(TestApi, "test", (handlers) =>
  handlers
    .handle("echo", ({ payload }) =>
      Effect.map(RequestContext.RequestContext, (request) => {
        executions++
        return { ...payload, requestId: request.requestId, executions }
      })
    )
    .handle("boom", () =>
      Effect.die(new Error("secret database password in this message (a defect this test provokes on purpose)"))
    )
    .handle("missing", ({ params }) => Effect.fail(Problem.notFound(`no thing '${params.id}'`)))
)

const TestServer = Server.layer(HttpApiBuilder.layer(TestApi).pipe(Layer.provide(Handlers)), {
  port: 0,
  host: "127.0.0.1",
  maxBodySize: 1024
}).pipe(
  Layer.provide(IdempotencyStore.layerMemory),
  // tests log at Warn: the request log lines are Info
  Layer.provideMerge(Layer.succeed(References.MinimumLogLevel, "Warn"))
)

const call = (port: number, method: string, path: string, init?: { body?: string; headers?: Record<string, string> }) =>
  Effect.promise(async () => {
    const response = await fetch(`http://127.0.0.1:${port}${path}`, { method, ...init })
    return { status: response.status, headers: response.headers, text: await response.text() }
  })

const problemOf = (text: string) => Schema.decodeUnknownSync(Schema.fromJsonString(Problem.ProblemDetails))(text)

layer(TestServer, { excludeTestServices: true })("Pipeline", (it) => {
  it.effect("a defect is a 500 problem without internals, with the request id", () =>
    Effect.gen(function* () {
      const port = yield* Server.port
      const reply = yield* call(port, "GET", "/boom", { headers: { "x-request-id": "trace-me" } })
      assert.strictEqual(reply.status, 500)
      assert.strictEqual(reply.headers.get("content-type"), Problem.contentType)
      assert.notInclude(reply.text, "secret")
      assert.deepInclude(problemOf(reply.text), { status: 500, requestId: "trace-me", instance: "/boom" })
      assert.strictEqual(reply.headers.get("x-request-id"), "trace-me")
    })
  )

  it.effect("handler problems get the request's instance and id; ids are generated when absent or invalid", () =>
    Effect.gen(function* () {
      const port = yield* Server.port
      const reply = yield* call(port, "GET", "/missing/x1", { headers: { "x-request-id": "has space" } })
      assert.strictEqual(reply.status, 404)
      const problem = problemOf(reply.text)
      assert.strictEqual(problem.instance, "/missing/x1")
      assert.match(problem.requestId ?? "", /^[0-9a-f-]{36}$/)
      assert.strictEqual(reply.headers.get("x-correlation-id"), problem.requestId)
    })
  )

  it.effect("the body limit, the content type and the schema are enforced as problems", () =>
    Effect.gen(function* () {
      const port = yield* Server.port
      const json = { "content-type": "application/json" }
      const tooLarge = yield* call(port, "POST", "/echo", {
        body: JSON.stringify({ name: "x".repeat(2000), count: 1 }),
        headers: json
      })
      assert.strictEqual(tooLarge.status, 413)
      const wrongType = yield* call(port, "POST", "/echo", { body: "{}", headers: { "content-type": "text/plain" } })
      assert.strictEqual(wrongType.status, 415)
      const invalid = yield* call(port, "POST", "/echo", { body: '{"name":1,"count":1.5,"x":0}', headers: json })
      assert.strictEqual(invalid.status, 400)
      assert.deepStrictEqual(
        problemOf(invalid.text)
          .errors?.map((error) => error.pointer)
          .sort(),
        ["/count", "/name", "/x"]
      )
      const ok = yield* call(port, "POST", "/echo", {
        body: '{"name":"a","count":1}',
        headers: { "content-type": "application/json; charset=utf-8" }
      })
      assert.strictEqual(ok.status, 200)
    })
  )

  it.effect("an idempotency key replays the first response and runs the handler once", () =>
    Effect.gen(function* () {
      const port = yield* Server.port
      const init = {
        body: '{"name":"idem","count":2}',
        headers: { "content-type": "application/json", "idempotency-key": "k-1" }
      }
      const first = yield* call(port, "POST", "/echo", init)
      const again = yield* call(port, "POST", "/echo", init)
      assert.strictEqual(again.text, first.text)
      assert.strictEqual(again.headers.get("idempotent-replayed"), "true")
      const other = yield* call(port, "POST", "/echo", { ...init, body: '{"name":"idem","count":3}' })
      assert.strictEqual(other.status, 422)
    })
  )
})

describe("helpers", () => {
  it("parses If-Match and If-None-Match", () => {
    assert.deepStrictEqual(Preconditions.parseIfMatch('"3"'), { _tag: "Version", version: 3 })
    assert.deepStrictEqual(Preconditions.parseIfMatch('W/"12"'), { _tag: "Version", version: 12 })
    assert.deepStrictEqual(Preconditions.parseIfMatch("*"), { _tag: "Exists" })
    assert.isUndefined(Preconditions.parseIfMatch("3"))
    assert.isUndefined(Preconditions.parseIfMatch('"1", "2"'))
    assert.isTrue(Preconditions.noneMatch('"1", "2"', 2))
    assert.isFalse(Preconditions.noneMatch('"1"', 2))
  })

  it("recognises the JSON content type HttpApi decodes (a +json type is refused with a 415 problem)", () => {
    assert.isTrue(Pipeline.isJson("application/json"))
    assert.isTrue(Pipeline.isJson("Application/JSON; charset=utf-8"))
    assert.isFalse(Pipeline.isJson("application/vnd.x+json"))
    assert.isFalse(Pipeline.isJson("text/json-ish"))
    assert.isFalse(Pipeline.isJson(undefined))
  })

  it("lists each invalid field with a JSON pointer", () => {
    const decoded = Schema.decodeUnknownResult(
      Schema.Struct({ items: Schema.Array(Schema.Struct({ "a/b": Schema.Int })) }),
      {
        errors: "all",
        onExcessProperty: "error"
      }
    )({ items: [{ "a/b": "x" }], extra: true })
    if (decoded._tag !== "Failure") return assert.fail("expected a failure")
    assert.deepStrictEqual(
      Problem.fieldErrors(decoded.failure.issue, "body")
        .map((error) => error.pointer)
        .sort(),
      ["/extra", "/items/0/a~1b"]
    )
  })
})
