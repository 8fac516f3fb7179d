import { assert, describe, layer } from "@effect/vitest"
import { TestEnvironment } from "@eventline/testing"
import { Effect, Layer, References } from "effect"
import { inject } from "vitest"
import { baseUrl, call, eventually, orderBody, serviceLayer, unique } from "./e2e.ts"

const brokers = inject("kafkaBrokers")

describe.skipIf(
  !TestEnvironment.isAvailable("Kafka", brokers, "set KAFKA_BROKERS or install Java and Maven for scripts/kafka")
)("Order service with KAFKA_BROKERS", () => {
  layer(
    serviceLayer({ _tag: "Embedded", dataDir: undefined }, (brokers ?? "").split(",")).pipe(
      Layer.provideMerge(Layer.succeed(References.MinimumLogLevel, "Error"))
    ),
    { excludeTestServices: true, timeout: "120 seconds" }
  )("relay and consumer on the real broker", (it) => {
    it.effect(
      "orders flow store -> relay -> order-events -> consumer (through the idempotency helper) -> HTTP; health and metrics cover Kafka",
      () =>
        Effect.gen(function* () {
          const base = yield* baseUrl
          const customerId = unique("kafka-customer")
          const first = unique("kafka-order")
          const second = unique("kafka-order")
          for (const orderId of [first, second]) {
            const created = yield* call("POST", `${base}/orders`, {
              json: orderBody(customerId, [["widget", 2]], orderId)
            })
            assert.strictEqual(created.status, 201)
          }
          assert.strictEqual(
            (yield* call("POST", `${base}/orders/${first}/cancel`, { json: { reason: "test" } })).status,
            200
          )
          const statistics = yield* eventually(
            call("GET", `${base}/customers/${customerId}/statistics`),
            (reply) => reply.status === 200 && (reply.body as { ordersCancelled?: number }).ordersCancelled === 1,
            "60 seconds"
          )
          assert.deepInclude(statistics.body as object, { customerId, ordersCreated: 2, ordersCancelled: 1 })

          const ready = yield* call("GET", `${base}/health/ready`)
          assert.strictEqual(ready.status, 200, ready.text)
          assert.include(ready.text, "kafka")
          const metrics = yield* call("GET", `${base}/metrics`)
          assert.match(metrics.text, /eventline_consumer_lag_messages\{[^}]*group="customer-statistics"[^}]*\} \d+/)
          assert.match(metrics.text, /eventline_subscription_lag_events\{subscription="kafka-relay"\} \d+/)
          assert.match(metrics.text, /eventline_relay_events_total \d+/)
        }),
      90_000
    )
  })
})
