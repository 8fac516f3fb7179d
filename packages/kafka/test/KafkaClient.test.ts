/**
 * The client from configuration, and the typed error's message.
 */
import { assert, describe, it } from "@effect/vitest"
import { ConfigProvider, Effect } from "effect"
import { KafkaClient } from "../src/index.ts"

const fromEnv = (env: Record<string, string>) => ConfigProvider.layer(ConfigProvider.fromEnv({ env }))

describe("KafkaClient", () => {
  it.effect("layerConfig reads KAFKA_BROKERS (comma-separated) and KAFKA_CLIENT_ID", () =>
    Effect.gen(function* () {
      const client = yield* KafkaClient.KafkaClient
      assert.deepStrictEqual(client.brokers, ["kafka-1:9092", "kafka-2:9092"])
      assert.strictEqual(client.clientId, "orders")
    }).pipe(
      Effect.provide(KafkaClient.layerConfig),
      Effect.provide(fromEnv({ KAFKA_BROKERS: " kafka-1:9092, kafka-2:9092,", KAFKA_CLIENT_ID: "orders" }))
    )
  )

  it.effect("the client id defaults to eventline", () =>
    Effect.gen(function* () {
      const client = yield* KafkaClient.KafkaClient
      assert.strictEqual(client.clientId, "eventline")
    }).pipe(Effect.provide(KafkaClient.layerConfig), Effect.provide(fromEnv({ KAFKA_BROKERS: "localhost:9092" })))
  )

  it.effect("fails with a ConfigError without KAFKA_BROKERS", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(
        Effect.gen(function* () {
          return yield* KafkaClient.KafkaClient
        }).pipe(Effect.provide(KafkaClient.layerConfig))
      )
      assert.strictEqual(error._tag, "ConfigError")
    }).pipe(Effect.provide(fromEnv({})))
  )

  it.effect("KafkaError names the operation and keeps the cause", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(
        KafkaClient.call("producer.send", () => Promise.reject(new Error("broker unreachable")))
      )
      assert.strictEqual(error._tag, "KafkaError")
      assert.strictEqual(error.message, "Kafka producer.send failed: broker unreachable")
      assert.instanceOf(error.cause, Error)
      const odd = new KafkaClient.KafkaError({ operation: "x", cause: Object.create(null) })
      assert.strictEqual(odd.message, "Kafka x failed: {}")
    })
  )
})
