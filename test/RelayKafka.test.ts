import { execFile } from "node:child_process"
import { mkdtemp, rm } from "node:fs/promises"
import { createServer } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { promisify } from "node:util"
import { assert, describe, layer } from "@effect/vitest"
import { EventBus, type EventEnvelope, EventStore, ExpectedVersion, Relay } from "@eventline/core"
import { EnvelopeCodec, KafkaClient, KafkaEventBus, KafkaProducer } from "@eventline/kafka"
import { PgProcessedEvents, PgStore } from "@eventline/postgres"
import { TestEnvironment } from "@eventline/testing"
import { Effect, Exit, Layer, Ref, Schedule, Schema, Scope } from "effect"
import { SqlClient } from "effect/sql"
import { brokers, fastGroup, howToProvideKafka, QuietLogs, unique } from "../packages/kafka/test/utils.ts"

const run = promisify(execFile)
const scripts = fileURLToPath(new URL("../scripts/kafka/", import.meta.url))

const event = (type: string, data: EventEnvelope.NewEvent["data"]): EventEnvelope.NewEvent => ({
  type,
  schemaVersion: 1,
  data,
  metadata: { correlationId: "relay-test", occurredAt: "2026-01-01T00:00:00.000Z" }
})

// requests of 10: a relay page goes out as several requests, the next encoded while one is in flight
const kafkaLayer = (address: string) =>
  KafkaEventBus.layer({ ...fastGroup, maxBatchSize: 10 }).pipe(
    Layer.provideMerge(KafkaProducer.layer()),
    Layer.provideMerge(
      KafkaClient.layer({
        brokers: [address],
        clientId: unique("relay-test"),
        retry: { retries: 3, initialRetryTime: 100, maxRetryTime: 1_000 }
      })
    )
  )

/** Consume a topic from the beginning until `count` messages arrived; the decoded envelopes in arrival order. */
const collect = (topic: string, count: number) =>
  Effect.scoped(
    Effect.gen(function* () {
      const bus = yield* EventBus.EventBus
      const seen = yield* Ref.make<ReadonlyArray<EventEnvelope.RecordedEvent>>([])
      yield* bus.run([topic], unique("relay-reader"), (envelope) => Ref.update(seen, (all) => [...all, envelope]))
      return yield* Ref.get(seen).pipe(
        Effect.repeat({ until: (all) => all.length >= count, schedule: Schedule.spaced("50 millis") }),
        Effect.timeout("60 seconds")
      )
    })
  )

/** A port nobody listens on now (the OS picks it). */
const freePort = Effect.callback<number>((resume) => {
  const server = createServer()
  server.listen(0, "127.0.0.1", () => {
    const address = server.address()
    server.close(() => resume(Effect.succeed(typeof address === "object" && address !== null ? address.port : 0)))
  })
})

describe.skipIf(!TestEnvironment.isAvailable("Kafka", brokers, howToProvideKafka))("Relay (store to Kafka)", () => {
  layer(
    Layer.mergeAll(PgStore.layerEmbedded(), kafkaLayer((brokers ?? "").split(",")[0] ?? "")).pipe(
      Layer.provideMerge(QuietLogs)
    ),
    { excludeTestServices: true, timeout: "180 seconds" }
  )("on the shared broker", (it) => {
    it.effect(
      "every appended event reaches its topic, in stream order per key, as the documented envelope and headers",
      () =>
        Effect.gen(function* () {
          const store = yield* EventStore.EventStore
          const suffix = unique("order")
          const topic = `${suffix}-events`
          yield* KafkaProducer.ensureTopics([{ topic, numPartitions: 3, replicationFactor: 1 }])
          const streams = Array.from({ length: 5 }, (_, i) => `${suffix}-s${i}`)
          for (let round = 0; round < 20; round++) {
            for (const stream of streams) {
              yield* store.append(stream, ExpectedVersion.Any, [event("Ticked", { round })], { streamType: suffix })
            }
          }
          const relay = yield* Relay.start({ name: unique("relay"), streamTypes: [suffix], batchSize: 37 })
          yield* relay.caughtUp
          const received = yield* collect(topic, 100)
          assert.strictEqual(received.length, 100)
          for (const stream of streams) {
            const versions = received.filter((e) => e.streamId === stream).map((e) => e.version)
            assert.deepStrictEqual(
              versions,
              Array.from({ length: 20 }, (_, i) => i + 1),
              `${stream} in order`
            )
          }

          // an independent client reads the same topic: JSON that parses into the envelope, and the headers
          const { stdout } = yield* Effect.promise(() =>
            run("kcat", [
              "-b",
              (brokers ?? "").split(",")[0] ?? "",
              "-C",
              "-t",
              topic,
              "-o",
              "beginning",
              "-e",
              "-J",
              "-q"
            ])
          )
          const lines = stdout.trim().split("\n")
          assert.strictEqual(lines.length, 100)
          const first = JSON.parse(lines[0] as string) as {
            key: string
            payload: string
            headers: ReadonlyArray<string>
          }
          const envelope = Schema.decodeUnknownSync(EnvelopeCodec.EnvelopeJson)(first.payload)
          assert.strictEqual(first.key, envelope.streamId)
          const headerNames = first.headers.filter((_, i) => i % 2 === 0)
          for (const name of [
            "event-id",
            "event-type",
            "schema-version",
            "stream-version",
            "position",
            "correlation-id",
            "occurred-at",
            "published-at"
          ]) {
            assert.include(headerNames, name)
          }
        }),
      90_000
    )
  })

  layer(Layer.mergeAll(PgStore.layerEmbedded(), QuietLogs), { excludeTestServices: true, timeout: "240 seconds" })(
    "with a broker of its own",
    (it) => {
      it.effect(
        "a broker restart in the middle of relaying loses nothing; repeats are dropped by the idempotency helper",
        () =>
          Effect.gen(function* () {
            const store = yield* EventStore.EventStore
            const sql = yield* SqlClient.SqlClient
            const port = yield* freePort
            const controllerPort = yield* freePort
            const stateDir = yield* Effect.promise(() => mkdtemp(join(tmpdir(), "eventline-kafka-")))
            const env = {
              ...process.env,
              KAFKA_STATE_DIR: stateDir,
              KAFKA_PORT: String(port),
              KAFKA_CONTROLLER_PORT: String(controllerPort),
              KAFKA_KEEP_DATA: "1"
            }
            const broker = (script: "start.sh" | "stop.sh") =>
              Effect.promise(() => run("bash", [join(scripts, script)], { env }))
            yield* Effect.acquireRelease(broker("start.sh"), () =>
              Effect.andThen(
                Effect.promise(() =>
                  run("bash", [join(scripts, "stop.sh")], { env: { ...env, KAFKA_KEEP_DATA: "0" } })
                ),
                Effect.promise(() => rm(stateDir, { recursive: true, force: true }))
              )
            )
            const address = `127.0.0.1:${port}`
            const streamType = unique("Restart")
            const topic = `${streamType.toLowerCase()}-events`

            yield* Effect.gen(function* () {
              yield* KafkaProducer.ensureTopics([{ topic, numPartitions: 2, replicationFactor: 1 }])
              const appendRound = (round: number) =>
                Effect.forEach(
                  Array.from({ length: 4 }, (_, i) => `${streamType}-s${i}`),
                  (stream) => store.append(stream, ExpectedVersion.Any, [event("Ticked", { round })], { streamType }),
                  { discard: true }
                )
              const relayScope = yield* Scope.make()
              const relay = yield* Relay.start({
                name: unique("relay"),
                streamTypes: [streamType],
                batchSize: 30 // pages of three requests
              }).pipe(Scope.provide(relayScope))
              for (let round = 0; round < 10; round++) yield* appendRound(round)
              yield* relay.caughtUp

              // the broker goes away while appends go on; the relay keeps retrying
              yield* broker("stop.sh")
              for (let round = 10; round < 25; round++) yield* appendRound(round)
              yield* Effect.sleep("1 second")
              assert.isAbove((yield* relay.lag).events, 0, "events wait while the broker is down")
              yield* broker("start.sh")
              for (let round = 25; round < 30; round++) yield* appendRound(round)
              yield* relay.caughtUp.pipe(Effect.timeout("120 seconds"))
              yield* Scope.close(relayScope, Exit.void)

              const received = yield* collect(topic, 120)
              const unique_ = new Map(received.map((e) => [e.eventId, e]))
              assert.strictEqual(unique_.size, 120, "every event arrived (repeats allowed)")
              for (let i = 0; i < 4; i++) {
                const versions = received.filter((e) => e.streamId === `${streamType}-s${i}`).map((e) => e.version)
                // at least once: a resend may repeat a run of versions, but never goes backwards past a gap
                const firstSeen = versions.filter((v, index) => versions.indexOf(v) === index)
                assert.deepStrictEqual(
                  firstSeen,
                  Array.from({ length: 30 }, (_, v) => v + 1),
                  "order per key"
                )
              }

              // a consumer with the idempotency helper applies each event once, however often it came
              const inbox = yield* PgProcessedEvents.make
              const applied = yield* Ref.make(0)
              for (const envelope of received) {
                yield* inbox.once(
                  "relay-test-consumer",
                  envelope.eventId,
                  Effect.andThen(
                    Ref.update(applied, (n) => n + 1),
                    sql`SELECT 1`
                  )
                )
              }
              assert.strictEqual(yield* Ref.get(applied), 120)
            }).pipe(Effect.provide(kafkaLayer(address)))
          }),
        200_000
      )
    }
  )
})
