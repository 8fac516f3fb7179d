/**
 * Bad input at the HTTP edge of the Order service (issue 12, §5), over real HTTP on PostgreSQL:
 * a JSON body that is not UTF-8 is refused (effect's decoder would store U+FFFD in its place), a
 * path parameter over the router's limit is a 414 naming the limit, and a path that is not
 * percent-encoded UTF-8 is a 400; each as problem+json, never a 404 or a 201.
 */
import { assert, describe, layer } from "@effect/vitest"
import { Problem } from "@eventline/http"
import { Effect, Layer, Redacted } from "effect"
import { databaseUrl, postgresAvailable, throwawayDatabase } from "../../postgres/test/utils.ts"
import { OrderAccepted } from "../src/OrdersApi.ts"
import { baseUrl, call, decode, orderBody, problem, serviceLayer, unique } from "./e2e.ts"

const service = Layer.unwrap(
  Effect.map(throwawayDatabase(databaseUrl ?? "", "h6_http_input"), (url) =>
    serviceLayer({ _tag: "Postgres", url: Redacted.make(url) })
  )
)

/** A POST whose body is these bytes, as they are (fetch would not send invalid UTF-8 from a string). */
const postBytes = (url: string, bytes: Uint8Array) =>
  Effect.promise(async () => {
    const response = await fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body: bytes })
    const text = await response.text()
    return { status: response.status, headers: response.headers, text, body: text === "" ? text : JSON.parse(text) }
  })

describe.skipIf(!postgresAvailable())("HTTP input", () => {
  layer(service, { excludeTestServices: true, timeout: "60 seconds" })((it) => {
    it.effect("a JSON body with bytes that are not UTF-8 is a 400 problem, and nothing is created", () =>
      Effect.gen(function* () {
        const base = yield* baseUrl
        const orderId = unique("utf8")
        const json = JSON.stringify(orderBody(unique("c"), [["p-1", 1]], orderId)).replace(
          `"${orderId}"`,
          `"${orderId}-ab\u0001\u0002cd"`
        )
        // 0xFF 0xFE stand where the two marker bytes are: never valid in UTF-8
        const bytes = new TextEncoder().encode(json).map((byte) => (byte === 1 ? 0xff : byte === 2 ? 0xfe : byte))
        const reply = yield* postBytes(`${base}/orders`, bytes)
        assert.strictEqual(reply.status, 400)
        assert.strictEqual(reply.headers.get("content-type"), Problem.contentType)
        assert.deepInclude(problem(reply), {
          status: 400,
          type: Problem.types.invalidEncoding,
          detail: "the request body is not valid UTF-8"
        })

        // the same body in valid UTF-8 (U+00FF U+00FE) is accepted
        const valid = json.replace("ab\u0001\u0002cd", "ab\u00ff\u00fecd")
        const accepted = yield* call("POST", `${base}/orders`, {
          body: valid,
          headers: { "content-type": "application/json" }
        })
        assert.strictEqual(accepted.status, 201, accepted.text)
        assert.strictEqual(decode(OrderAccepted)(accepted).orderId, `${orderId}-ab\u00ff\u00fecd`)
      })
    )

    it.effect("a path parameter over 100 characters is a 414 problem naming the limit", () =>
      Effect.gen(function* () {
        const base = yield* baseUrl
        for (const path of [`/orders/${"a".repeat(101)}`, `/orders/${"a".repeat(300)}/events`]) {
          const reply = yield* call("GET", `${base}${path}`)
          assert.strictEqual(reply.status, 414, path)
          assert.strictEqual(reply.headers.get("content-type"), Problem.contentType)
          assert.deepInclude(problem(reply), {
            status: 414,
            type: Problem.types.uriTooLong,
            detail: "a path parameter must be at most 100 characters"
          })
        }
        // at the limit: the route answers (the order does not exist)
        const atLimit = yield* call("GET", `${base}/orders/${"a".repeat(100)}`)
        assert.strictEqual(atLimit.status, 404)
      })
    )

    it.effect("a path that is not percent-encoded UTF-8 is a 400 problem; an unknown route stays a 404", () =>
      Effect.gen(function* () {
        const base = yield* baseUrl
        for (const path of ["/orders/%FF", "/orders/ab%C3/events", "/streams/%E0%A4%A"]) {
          const reply = yield* call("GET", `${base}${path}`)
          assert.strictEqual(reply.status, 400, path)
          assert.deepInclude(problem(reply), { status: 400, type: Problem.types.malformedPath })
        }
        const unknown = yield* call("GET", `${base}/nowhere/%C3%A9`)
        assert.strictEqual(unknown.status, 404)
        assert.strictEqual(problem(unknown).type, Problem.types.notFound)
      })
    )
  })
})
