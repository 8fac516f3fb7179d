/**
 * The Order service end to end over real HTTP on a random port, on PGlite and on PostgreSQL:
 * the lifecycle with the fulfilment saga, every error status as problem+json, idempotency keys,
 * If-Match, read-your-writes, and the SSE tail with a resume.
 */
import { assert, describe, layer } from "@effect/vitest"
import { Idempotency } from "@eventline/http"
import { TestEnvironment } from "@eventline/testing"
import { Context, Duration, Effect, Fiber, Latch, Layer, Schema } from "effect"
import type { HttpServer } from "effect/http"
import { inject } from "vitest"
import { StockView } from "../src/InventoryApi.ts"
import * as OrderReadModel from "../src/OrderReadModel.ts"
import { OrderView } from "../src/OrderReadModel.ts"
import { OrderAccepted, OrderEvents, OrderList } from "../src/OrdersApi.ts"
import {
  baseUrl,
  call,
  decode,
  eventually,
  orderBody,
  problem,
  readSse,
  serviceLayer,
  serviceOnPostgres,
  unique
} from "./e2e.ts"

const databaseUrl = inject("databaseUrl")

const Envelope = Schema.Struct({
  eventId: Schema.String,
  streamId: Schema.String,
  streamType: Schema.String,
  type: Schema.String,
  version: Schema.Int,
  position: Schema.String,
  data: Schema.Json,
  metadata: Schema.Struct({
    correlationId: Schema.String,
    causationId: Schema.optionalKey(Schema.String),
    requestId: Schema.optionalKey(Schema.String),
    idempotencyKeyHash: Schema.optionalKey(Schema.String)
  })
})
const LogPage = Schema.Struct({ events: Schema.Array(Envelope), checkpoint: Schema.String, hasMore: Schema.Boolean })
const decodeEnvelope = Schema.decodeUnknownSync(Schema.fromJsonString(Envelope))

const suite = <E>(name: string, service: Layer.Layer<HttpServer.HttpServer, E>) =>
  layer(service, { excludeTestServices: true, timeout: "120 seconds" })(name, (it) => {
    it.effect(
      "lifecycle: restock, create, confirm (stock reserved), out-of-stock cancel by the saga, cancel releases stock",
      () =>
        Effect.gen(function* () {
          const base = yield* baseUrl
          const [a, b] = [unique("prod-a"), unique("prod-b")]
          assert.strictEqual(
            (yield* call("POST", `${base}/inventory/${a}/restock`, { json: { quantity: 5 } })).status,
            200
          )
          const restockB = yield* call("POST", `${base}/inventory/${b}/restock`, { json: { quantity: 1 } })
          assert.strictEqual(restockB.status, 200)
          assert.strictEqual(restockB.headers.get("etag"), '"1"')

          const created = yield* call("POST", `${base}/orders`, {
            json: orderBody("dana", [
              [a, 2],
              [b, 1]
            ]),
            headers: { "x-request-id": "req-lifecycle-1", "x-correlation-id": "corr-lifecycle" }
          })
          assert.strictEqual(created.status, 201)
          const first = decode(OrderAccepted)(created)
          assert.strictEqual(first.version, 1)
          assert.match(first.orderId, /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/)
          assert.strictEqual(created.headers.get("location"), `/orders/${first.orderId}`)
          assert.strictEqual(created.headers.get("etag"), '"1"')
          assert.strictEqual(created.headers.get("x-request-id"), "req-lifecycle-1")
          assert.strictEqual(created.headers.get("x-correlation-id"), "corr-lifecycle")

          const confirmed = yield* call("POST", `${base}/orders/${first.orderId}/confirm`)
          assert.strictEqual(confirmed.status, 200)
          assert.deepStrictEqual(decode(OrderAccepted)(confirmed), { orderId: first.orderId, version: 2 })
          assert.strictEqual(confirmed.headers.get("etag"), '"2"')

          const view = yield* eventually(
            Effect.map(call("GET", `${base}/orders/${first.orderId}`), (reply) =>
              reply.status === 200 ? decode(OrderView)(reply) : undefined
            ),
            (order) => order?.status === "confirmed"
          )
          assert.deepInclude(view, { customerId: "dana", totalAmount: 750, itemCount: 2, version: 2 })
          const stockA = yield* eventually(
            Effect.map(call("GET", `${base}/inventory/${a}`), decode(StockView)),
            // reserved, then committed by the saga (a moment later): the stock stays sold
            (stock) => stock.available === 3 && stock.reserved === 0
          )
          assert.deepStrictEqual(stockA.reservations, {})

          // the events carry the request's ids
          const events = decode(OrderEvents)(yield* call("GET", `${base}/orders/${first.orderId}/events`))
          assert.deepStrictEqual(
            events.events.map((event) => event.type),
            ["OrderCreated", "OrderConfirmed"]
          )
          assert.deepInclude(events.events[0]?.metadata, {
            correlationId: "corr-lifecycle",
            causationId: "req-lifecycle-1",
            requestId: "req-lifecycle-1"
          })

          // b has no stock left: the saga releases a and cancels the order
          const second = decode(OrderAccepted)(
            yield* call("POST", `${base}/orders`, {
              json: orderBody("dana", [
                [a, 1],
                [b, 1]
              ])
            })
          )
          assert.strictEqual((yield* call("POST", `${base}/orders/${second.orderId}/confirm`)).status, 200)
          yield* eventually(
            Effect.map(call("GET", `${base}/orders/${second.orderId}`), (reply) =>
              reply.status === 200 ? decode(OrderView)(reply).status : undefined
            ),
            (status) => status === "cancelled"
          )
          const secondEvents = decode(OrderEvents)(yield* call("GET", `${base}/orders/${second.orderId}/events`))
          assert.deepStrictEqual(
            secondEvents.events.map((event) => event.type),
            ["OrderCreated", "OrderConfirmed", "OrderCancelled"]
          )
          assert.deepInclude(secondEvents.events[2]?.data, { reason: "out of stock" })
          const afterRelease = yield* eventually(
            Effect.map(call("GET", `${base}/inventory/${a}`), decode(StockView)),
            (stock) => stock.available === 3 && stock.reserved === 0
          )
          assert.deepStrictEqual(afterRelease.reservations, {})

          // cancelling the confirmed order gives its stock back
          const cancelled = yield* call("POST", `${base}/orders/${first.orderId}/cancel`, {
            json: { reason: "changed my mind" }
          })
          assert.strictEqual(cancelled.status, 200)
          assert.strictEqual(decode(OrderAccepted)(cancelled).version, 3)
          yield* eventually(
            Effect.map(call("GET", `${base}/inventory/${a}`), decode(StockView)),
            (stock) => stock.available === 5 && stock.reserved === 0
          )

          // lists: by customer and status, a page at a time
          const page = decode(OrderList)(yield* call("GET", `${base}/orders?customerId=dana&status=cancelled&limit=1`))
          assert.strictEqual(page.items.length, 1)
          assert.isNotNull(page.nextCursor)
          const next = decode(OrderList)(
            yield* call(
              "GET",
              `${base}/orders?customerId=dana&status=cancelled&limit=1&cursor=${encodeURIComponent(page.nextCursor ?? "")}`
            )
          )
          assert.deepStrictEqual(
            [...page.items, ...next.items].map((order) => order.orderId).sort(),
            [first.orderId, second.orderId].sort()
          )
        }),
      60_000
    )

    it.effect("every error is problem+json with its status", () =>
      Effect.gen(function* () {
        const base = yield* baseUrl
        const product = unique("prod")
        const orderId = unique("order")

        // 400: unknown fields and wrong types, each listed with its path
        const invalid = yield* call("POST", `${base}/orders`, {
          json: { customerId: 42, items: [{ productId: product, quantity: "two", price: 100 }], coupon: "FREE" }
        })
        assert.strictEqual(invalid.status, 400)
        assert.strictEqual(invalid.headers.get("content-type"), "application/problem+json")
        const invalidProblem = problem(invalid)
        assert.strictEqual(invalidProblem.type, "urn:eventline:problem:validation")
        assert.strictEqual(invalidProblem.instance, "/orders")
        assert.strictEqual(invalidProblem.requestId, invalid.headers.get("x-request-id"))
        assert.deepStrictEqual((invalidProblem.errors ?? []).map((error) => `${error.in} ${error.pointer}`).sort(), [
          "body /coupon",
          "body /customerId",
          "body /items/0/quantity"
        ])
        assert.include(
          (invalidProblem.errors ?? []).find((error) => error.pointer === "/customerId")?.message ?? "",
          "Expected string"
        )
        // 400: domain limits from the command schema
        const limits = problem(
          yield* call("POST", `${base}/orders`, {
            json: { customerId: "c", items: [{ productId: product, quantity: 0, price: -1 }] }
          })
        )
        assert.deepStrictEqual(
          (limits.errors ?? []).map((error) => [error.pointer, error.message]),
          [
            ["/items/0/quantity", "a quantity must be from 1 to 10000"],
            ["/items/0/price", "a price must be from 0 to 100000000 cents"]
          ]
        )
        // 400: malformed JSON, and no body at all
        const malformed = yield* call("POST", `${base}/orders`, {
          body: '{"customerId": "c",',
          headers: { "content-type": "application/json" }
        })
        assert.strictEqual(malformed.status, 400)
        assert.strictEqual(problem(malformed).type, "urn:eventline:problem:malformed-json")
        const empty = yield* call("POST", `${base}/orders`, { headers: { "content-type": "application/json" } })
        assert.strictEqual(empty.status, 400)
        // 400: query parameters
        const badQuery = problem(yield* call("GET", `${base}/orders?limit=500&status=lost`))
        assert.deepStrictEqual((badQuery.errors ?? []).map((error) => `${error.in} ${error.pointer}`).sort(), [
          "query /limit",
          "query /status"
        ])
        // 415: not JSON
        const text = yield* call("POST", `${base}/orders`, {
          body: "customerId=c",
          headers: { "content-type": "application/x-www-form-urlencoded" }
        })
        assert.strictEqual(text.status, 415)
        assert.strictEqual(problem(text).type, "urn:eventline:problem:unsupported-media-type")
        // 413: over 1 MiB, announced by Content-Length, and streamed without one (chunked)
        const huge = JSON.stringify({ customerId: "x".repeat(1_100_000), items: [] })
        const tooLarge = yield* call("POST", `${base}/orders`, {
          body: huge,
          headers: { "content-type": "application/json" }
        })
        assert.strictEqual(tooLarge.status, 413)
        assert.strictEqual(problem(tooLarge).type, "urn:eventline:problem:payload-too-large")
        const chunks = new TextEncoder().encode(huge)
        const chunked = yield* call("POST", `${base}/orders`, {
          body: new ReadableStream<Uint8Array>({
            start(controller) {
              for (let offset = 0; offset < chunks.length; offset += 64 * 1024) {
                controller.enqueue(chunks.subarray(offset, offset + 64 * 1024))
              }
              controller.close()
            }
          }),
          headers: { "content-type": "application/json" }
        })
        assert.strictEqual(chunked.status, 413)
        // 404: no route, no order, no stream
        const noRoute = yield* call("GET", `${base}/nowhere`)
        assert.strictEqual(noRoute.status, 404)
        assert.strictEqual(problem(noRoute).instance, "/nowhere")
        assert.strictEqual((yield* call("GET", `${base}/orders/${orderId}`)).status, 404)
        assert.strictEqual((yield* call("GET", `${base}/streams/${orderId}`)).status, 404)
        const confirmMissing = yield* call("POST", `${base}/orders/${orderId}/confirm`)
        assert.strictEqual(confirmMissing.status, 404)
        assert.strictEqual(problem(confirmMissing).rejection, "OrderNotFound")
        // 409: an existing order id; an illegal transition (the rule in detail)
        assert.strictEqual(
          (yield* call("POST", `${base}/orders`, { json: orderBody("c", [[product, 1]], orderId) })).status,
          201
        )
        const again = yield* call("POST", `${base}/orders`, { json: orderBody("c", [[product, 1]], orderId) })
        assert.strictEqual(again.status, 409)
        assert.deepInclude(problem(again), {
          rejection: "OrderAlreadyExists",
          detail: `order '${orderId}' already exists`
        })
        yield* call("POST", `${base}/orders/${orderId}/cancel`, { json: { reason: "test" } })
        const illegal = yield* call("POST", `${base}/orders/${orderId}/confirm`)
        assert.strictEqual(illegal.status, 409)
        assert.deepInclude(problem(illegal), {
          type: "urn:eventline:problem:rejected",
          rejection: "OrderNotPending",
          detail: `order '${orderId}' is cancelled: only a pending order can be confirmed`
        })
        // 412 and 422 are covered by the If-Match and Idempotency-Key tests
      })
    )

    it.effect(
      "Idempotency-Key: the same key and body replays; another body is 422; concurrent duplicates run once",
      () =>
        Effect.gen(function* () {
          const base = yield* baseUrl
          const customer = unique("idem")
          const key = unique("key")
          const body = orderBody(customer, [[unique("p"), 1]])
          const first = yield* call("POST", `${base}/orders`, { json: body, headers: { "idempotency-key": key } })
          assert.strictEqual(first.status, 201)
          const replay = yield* call("POST", `${base}/orders`, { json: body, headers: { "idempotency-key": key } })
          assert.strictEqual(replay.status, 201)
          assert.strictEqual(replay.text, first.text)
          assert.strictEqual(replay.headers.get("idempotent-replayed"), "true")
          assert.strictEqual(replay.headers.get("location"), first.headers.get("location"))
          assert.strictEqual(replay.headers.get("etag"), first.headers.get("etag"))
          const other = yield* call("POST", `${base}/orders`, {
            json: orderBody(customer, [[unique("p"), 2]]),
            headers: { "idempotency-key": key }
          })
          assert.strictEqual(other.status, 422)
          assert.strictEqual(problem(other).type, "urn:eventline:problem:idempotency-key-reused")
          // the key's hash (never the key) was recorded in the event's metadata
          const orderId = decode(OrderAccepted)(first).orderId
          const events = decode(OrderEvents)(yield* call("GET", `${base}/orders/${orderId}/events`))
          assert.strictEqual(events.events[0]?.metadata.idempotencyKeyHash, Idempotency.scopedKey(undefined, key))
          assert.notInclude(JSON.stringify(events), key)

          // ten concurrent requests with one key: one order
          const racing = unique("key")
          const raceBody = orderBody(customer, [[unique("p"), 3]])
          const replies = yield* Effect.all(
            Array.from({ length: 10 }, () =>
              call("POST", `${base}/orders`, { json: raceBody, headers: { "idempotency-key": racing } })
            ),
            { concurrency: "unbounded" }
          )
          const statuses = replies.map((reply) => reply.status)
          assert.isTrue(
            statuses.every((status) => status === 201 || status === 409),
            statuses.join(",")
          )
          const createdIds = new Set(
            replies.filter((reply) => reply.status === 201).map((reply) => decode(OrderAccepted)(reply).orderId)
          )
          assert.strictEqual(createdIds.size, 1)
          for (const reply of replies.filter((r) => r.status === 409)) {
            assert.strictEqual(problem(reply).type, "urn:eventline:problem:idempotency-key-in-use")
            // when the claim's lease ends at the latest (issue 12 §4)
            assert.match(reply.headers.get("retry-after") ?? "", /^[1-9][0-9]*$/)
          }
          const orders = yield* eventually(
            Effect.map(call("GET", `${base}/orders?customerId=${customer}`), decode(OrderList)),
            (page) => page.items.length >= 2
          )
          assert.strictEqual(orders.items.length, 2)

          // an invalid key is a 400 naming the header
          const invalidKey = problem(
            yield* call("POST", `${base}/orders`, { json: body, headers: { "idempotency-key": "with space" } })
          )
          assert.deepStrictEqual(
            (invalidKey.errors ?? []).map((error) => `${error.in} ${error.pointer}`),
            ["header /idempotency-key"]
          )
        })
    )

    it.effect("If-Match: a stale version answers 412 with the current one; the right one passes", () =>
      Effect.gen(function* () {
        const base = yield* baseUrl
        const orderId = unique("order")
        const product = unique("p")
        yield* call("POST", `${base}/inventory/${product}/restock`, { json: { quantity: 10 } })
        yield* call("POST", `${base}/orders`, { json: orderBody("c", [[product, 1]], orderId) })
        const stale = yield* call("POST", `${base}/orders/${orderId}/confirm`, { headers: { "if-match": '"2"' } })
        assert.strictEqual(stale.status, 412)
        assert.deepInclude(problem(stale), { type: "urn:eventline:problem:precondition-failed", currentVersion: 1 })
        const fresh = yield* call("POST", `${base}/orders/${orderId}/confirm`, { headers: { "if-match": '"1"' } })
        assert.strictEqual(fresh.status, 200)
        assert.strictEqual(fresh.headers.get("etag"), '"2"')
        const weak = yield* call("POST", `${base}/orders/${orderId}/cancel`, {
          json: { reason: "weak etag" },
          headers: { "if-match": 'W/"1"' }
        })
        assert.strictEqual(weak.status, 412)
        assert.strictEqual(problem(weak).currentVersion, 2)
        const missing = yield* call("POST", `${base}/orders/${unique("none")}/confirm`, {
          headers: { "if-match": "*" }
        })
        assert.strictEqual(missing.status, 412)
        const bogus = yield* call("POST", `${base}/orders/${orderId}/confirm`, { headers: { "if-match": "v2" } })
        assert.strictEqual(bogus.status, 400)
        // ETag and If-None-Match on reads
        const read = yield* eventually(call("GET", `${base}/orders/${orderId}`), (reply) =>
          reply.status === 200 ? decode(OrderView)(reply).version === 2 : false
        )
        assert.strictEqual(read.headers.get("etag"), '"2"')
        const notModified = yield* call("GET", `${base}/orders/${orderId}`, { headers: { "if-none-match": '"2"' } })
        assert.strictEqual(notModified.status, 304)
        const stream = yield* call("GET", `${base}/streams/Order-${orderId}?from=2`)
        assert.strictEqual(stream.headers.get("etag"), '"2"')
      })
    )

    it.effect("read-your-writes: ?consistent=true sees the command just accepted; polling converges", () =>
      Effect.gen(function* () {
        const base = yield* baseUrl
        const product = unique("p")
        yield* call("POST", `${base}/inventory/${product}/restock`, { json: { quantity: 10 } })
        for (let i = 0; i < 5; i++) {
          const orderId = unique("ryw")
          const created = yield* call("POST", `${base}/orders`, { json: orderBody("ryw", [[product, 1]], orderId) })
          assert.strictEqual(created.status, 201)
          const consistent = yield* call("GET", `${base}/orders/${orderId}?consistent=true`)
          assert.strictEqual(consistent.status, 200)
          assert.strictEqual(decode(OrderView)(consistent).version, 1)
          yield* call("POST", `${base}/orders/${orderId}/confirm`)
          const polled = yield* eventually(call("GET", `${base}/orders/${orderId}`), (reply) =>
            reply.status === 200 ? decode(OrderView)(reply).status === "confirmed" : false
          )
          assert.strictEqual(decode(OrderView)(polled).version, 2)
        }
      })
    )

    it.effect("SSE: the live tail delivers events in log order and resumes after a disconnect with Last-Event-ID", () =>
      Effect.gen(function* () {
        const base = yield* baseUrl
        // the log's end now
        let checkpoint = "00000000000000000000-00000000000000000000"
        while (true) {
          const page = decode(LogPage)(yield* call("GET", `${base}/events?limit=1000&after=${checkpoint}`))
          checkpoint = page.checkpoint
          if (!page.hasMore) break
        }
        const customer = unique("sse")
        const isOrderOf = (ids: ReadonlyArray<string>) => (message: { readonly data: string }) => {
          const event = decodeEnvelope(message.data)
          return event.type === "OrderCreated" && ids.map((id) => `Order-${id}`).includes(event.streamId)
        }
        const firstIds = [unique("sse-a"), unique("sse-b"), unique("sse-c")]
        const reading = yield* readSse(`${base}/events/live?after=${checkpoint}`, 3, {
          keep: isOrderOf(firstIds)
        }).pipe(Effect.forkChild)
        for (const orderId of firstIds) {
          yield* call("POST", `${base}/orders`, { json: orderBody(customer, [[unique("p"), 1]], orderId) })
        }
        const firstBatch = yield* Fiber.join(reading)
        assert.deepStrictEqual(
          firstBatch.map((message) => decodeEnvelope(message.data).streamId),
          firstIds.map((id) => `Order-${id}`)
        )
        for (const message of firstBatch) assert.strictEqual(message.id, decodeEnvelope(message.data).position)
        const lastId = firstBatch[firstBatch.length - 1]?.id ?? ""

        // disconnected: two more orders; a reconnect resumes right after the last event received
        const laterIds = [unique("sse-d"), unique("sse-e")]
        for (const orderId of laterIds) {
          yield* call("POST", `${base}/orders`, { json: orderBody(customer, [[unique("p"), 1]], orderId) })
        }
        const resumed = yield* readSse(`${base}/events/live`, 2, {
          headers: { "last-event-id": lastId },
          keep: (message) => decodeEnvelope(message.data).type === "OrderCreated"
        })
        assert.deepStrictEqual(
          resumed.map((message) => decodeEnvelope(message.data).streamId),
          laterIds.map((id) => `Order-${id}`)
        )
        const positions = resumed.map((message) => message.id ?? "")
        assert.isTrue(positions.every((position) => position > lastId))
        // an invalid Last-Event-ID is a 400
        const invalid = yield* call("GET", `${base}/events/live`, { headers: { "last-event-id": "yesterday" } })
        assert.strictEqual(invalid.status, 400)
      })
    )

    it.effect("health, metrics, OpenAPI and the API page", () =>
      Effect.gen(function* () {
        const base = yield* baseUrl
        assert.strictEqual((yield* call("GET", `${base}/health/live`)).status, 200)
        const ready = yield* call("GET", `${base}/health/ready`)
        assert.strictEqual(ready.status, 200)
        assert.include(ready.text, '"name":"store","status":"up"')
        const metrics = yield* call("GET", `${base}/metrics`)
        assert.strictEqual(metrics.status, 200)
        for (const name of [
          "http_requests_total{",
          "http_request_duration_seconds_bucket{",
          "eventline_commands_total{",
          "eventline_appends_total{",
          "eventline_subscription_lag_events",
          "eventline_subscription_events_total"
        ]) {
          assert.include(metrics.text, name)
        }
        assert.match(metrics.text, /http_requests_total\{method="POST",route="\/orders",status="201"\} \d+/)
        const openapi = yield* call("GET", `${base}/openapi.json`)
        assert.strictEqual(openapi.status, 200)
        for (const path of ["/orders", "/orders/{orderId}/confirm", "/events/live", "/health/ready", "/metrics"]) {
          assert.include(openapi.text, `"${path}"`)
        }
        assert.include(openapi.text, "application/problem+json")
        const docs = yield* call("GET", `${base}/docs`)
        assert.strictEqual(docs.status, 200)
        assert.include(docs.headers.get("content-type") ?? "", "text/html")
      })
    )
  })

suite("Order service over HTTP on PGlite", serviceLayer({ _tag: "Embedded", dataDir: undefined }))

describe.skipIf(!TestEnvironment.isAvailable("PostgreSQL", databaseUrl, "set DATABASE_URL"))("on PostgreSQL", () => {
  suite("Order service over HTTP on PostgreSQL", serviceOnPostgres(databaseUrl ?? ""))
})

/** Opens and closes the read model's progress: while closed, its subscription handles nothing. */
class ReadModelGate extends Context.Service<ReadModelGate, Latch.Latch>()("test/ReadModelGate") {}

// the read model behind a gate the test controls (not transactional, so a closed gate does not
// hold PGlite's only connection), and a consistency timeout short enough for a test
const gatedService = Layer.unwrap(
  Effect.gen(function* () {
    const gate = yield* Latch.make(true)
    const readModel = OrderReadModel.subscription()
    return serviceLayer(
      { _tag: "Embedded", dataDir: undefined },
      undefined,
      {
        consistencyTimeout: Duration.millis(200),
        readModel: {
          ...readModel,
          transactional: false,
          handle: (event) => Effect.andThen(gate.await, readModel.handle(event))
        }
      },
      // a 503 is logged as an error, and this test provokes one on purpose
      "Fatal"
    ).pipe(Layer.merge(Layer.succeed(ReadModelGate, gate)))
  })
)

layer(gatedService, { excludeTestServices: true, timeout: "120 seconds" })(
  "?consistent=true when the read model is held back",
  (it) => {
    it.effect("answers 503 problem+json with Retry-After instead of stale data; 200 once it has caught up", () =>
      Effect.gen(function* () {
        const base = yield* baseUrl
        const gate = yield* ReadModelGate
        const orderId = unique("held")
        // in stock, so that the saga reserves it and the order stays at version 2 once confirmed
        const product = unique("p")
        yield* call("POST", `${base}/inventory/${product}/restock`, { json: { quantity: 10 } })
        assert.strictEqual(
          (yield* call("POST", `${base}/orders`, { json: orderBody("held", [[product, 1]], orderId) })).status,
          201
        )
        // the wait is short (200 ms): on a loaded machine the read model may need longer, so ask again
        const fresh = yield* eventually(
          call("GET", `${base}/orders/${orderId}?consistent=true`),
          (reply) => reply.status !== 503
        )
        assert.strictEqual(fresh.status, 200)
        assert.strictEqual(decode(OrderView)(fresh).version, 1)

        // held back: the read model cannot see the confirmation
        yield* gate.close
        assert.strictEqual((yield* call("POST", `${base}/orders/${orderId}/confirm`)).status, 200)
        const stale = yield* call("GET", `${base}/orders/${orderId}?consistent=true`)
        assert.strictEqual(stale.status, 503, stale.text)
        assert.strictEqual(stale.headers.get("content-type"), "application/problem+json")
        assert.strictEqual(stale.headers.get("retry-after"), "1")
        const body = problem(stale)
        assert.deepInclude(body, {
          type: "urn:eventline:problem:unavailable",
          status: 503,
          instance: `/orders/${orderId}`
        })
        assert.include(body.detail ?? "", "200ms")
        // without ?consistent=true the read model answers what it has (documented as possibly older)
        const older = yield* call("GET", `${base}/orders/${orderId}`)
        assert.strictEqual(decode(OrderView)(older).version, 1)

        yield* gate.open
        const caughtUp = yield* eventually(
          call("GET", `${base}/orders/${orderId}?consistent=true`),
          (reply) => reply.status !== 503
        )
        assert.strictEqual(caughtUp.status, 200, caughtUp.text)
        assert.deepInclude(decode(OrderView)(caughtUp), { version: 2, status: "confirmed" })
      })
    )
  }
)
