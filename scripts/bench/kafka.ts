/**
 * Issue 6's benchmark, against the real broker (KAFKA_BROKERS, default 127.0.0.1:9092) and
 * PostgreSQL (DATABASE_URL admin URL; a throwaway database is made and dropped).
 *
 *   node scripts/bench/kafka.ts [--quick] [--throughput-only]
 *
 * 1. Relay throughput: N events already in the store, relayed to Kafka (store read, encode, send,
 *    broker acknowledgement, checkpoint), against a bare kafkajs idempotent producer sending the
 *    same encoded messages in batches of the same size, in the same run. Ratio = relay / bare.
 * 2. End-to-end latency at a steady 200 appends/s: from the append's commit to the consumer's
 *    handler, through NOTIFY wake-up, relay, broker and consumer fetch.
 */
import { randomUUID } from "node:crypto"
import { PgClient } from "@effect/sql-pg"
import { EventBus, EventStore, ExpectedVersion, Relay } from "@eventline/core"
import { EnvelopeCodec, KafkaClient, KafkaEventBus, KafkaProducer } from "@eventline/kafka"
import { Migrations, PgCommitSignal, PgEventStore, PgSubscriptionStores } from "@eventline/postgres"
import { Cause, Clock, Effect, Exit, Fiber, Layer, Redacted, References, Schedule, Scope, Stream } from "effect"
import { SqlClient } from "effect/sql"
import { alternate, cpuNote, formatRatio, measure, ratios, type Sample } from "./common.ts"

const quick = process.argv.includes("--quick")
const adminUrl = process.env.DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/postgres"
const broker = (process.env.KAFKA_BROKERS ?? "127.0.0.1:9092").split(",")[0] ?? "127.0.0.1:9092"
const total = quick ? 10_000 : 20_000
/** Messages per produce request, on both sides. */
const batchSize = 500
/** The relay's page (read, publish, checkpoint): several requests, the next encoded while one is in flight. */
const relayPage = 4 * batchSize

const nowMs = Effect.map(Clock.currentTimeNanos, (nanos) => Number(nanos) / 1e6)
const percentile = (sorted: ReadonlyArray<number>, p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN

const metadata = { correlationId: "bench", occurredAt: new Date().toISOString() }

const seed = (streamType: string, count: number) =>
  EventStore.EventStore.use((store) =>
    Effect.forEach(
      Array.from({ length: count / 10 }, (_, i) => i),
      (i) =>
        store.append(
          `${streamType}-${i % 200}`,
          ExpectedVersion.Any,
          Array.from({ length: 10 }, (_, n) => ({
            type: "Ticked",
            schemaVersion: 1,
            data: { i, n, note: "a payload of a realistic size for an order event, with a few fields" },
            metadata
          })),
          { streamType }
        ),
      { concurrency: 8, discard: true }
    )
  )

/**
 * The relay over `total` stored events (a fresh subscription each round, so it reads them all
 * again), against a bare kafkajs idempotent producer sending the same encoded messages in
 * requests of the same size; alternating rounds (ABBA), the median of the per-round ratios.
 */
const relayThroughput = Effect.gen(function* () {
  const store = yield* EventStore.EventStore
  const client = yield* KafkaClient.KafkaClient
  const streamType = `bench${randomUUID().slice(0, 8)}`
  const relayTopic = `${streamType}-events`
  const bareTopic = `${streamType}-bare`
  yield* KafkaProducer.ensureTopics([
    { topic: relayTopic, numPartitions: 3, replicationFactor: 1 },
    { topic: bareTopic, numPartitions: 3, replicationFactor: 1 }
  ])
  yield* seed(streamType, total)
  const events = yield* Stream.runCollect(store.readAll({ streamTypes: [streamType], batchSize: 1000 }))
  const messages = yield* EnvelopeCodec.encodeAll(events)
  const producer = client.kafka.producer({ idempotent: true, maxInFlightRequests: 1 })
  yield* Effect.acquireRelease(
    Effect.promise(() => producer.connect()),
    () => Effect.promise(() => producer.disconnect())
  )
  const bare = measure(
    events.length,
    Effect.gen(function* () {
      for (let i = 0; i < messages.length; i += batchSize) {
        yield* Effect.promise(() =>
          producer.send({ topic: bareTopic, acks: -1, messages: messages.slice(i, i + batchSize) })
        )
      }
    })
  )
  // timed from the start to caught up (the stop afterwards is not)
  const relay = (round: number) =>
    Effect.scoped(
      measure(
        events.length,
        Effect.flatMap(
          Relay.start({ name: `bench-relay-${streamType}-${round}`, streamTypes: [streamType], batchSize: relayPage }),
          (handle) => handle.caughtUp
        )
      )
    )
  const comparison = yield* alternate({
    rounds: quick ? { max: 4, budgetSeconds: 40 } : { max: 10, budgetSeconds: 120 },
    baseline: () => bare,
    eventline: relay
  })
  const ratio = ratios(comparison)
  const rates = (samples: ReadonlyArray<Sample>) => samples.map((sample) => Math.round(sample.perSecond)).join(", ")
  process.stdout.write(
    `relay throughput over ${total} events (pages of ${relayPage}, requests of ${batchSize}): ` +
      `relay ${rates(comparison.eventline)} ev/s, bare kafkajs ${rates(comparison.baseline)} ev/s, ` +
      `ratio ${formatRatio(ratio)} (target >= 0.9)\n${cpuNote("relay vs bare producer", comparison)}\n`
  )
})

const endToEndLatency = Effect.gen(function* () {
  const store = yield* EventStore.EventStore
  const bus = yield* EventBus.EventBus
  const streamType = `latency${randomUUID().slice(0, 8)}`
  const topic = `${streamType}-events`
  yield* KafkaProducer.ensureTopics([{ topic, numPartitions: 3, replicationFactor: 1 }])
  // the consumer may see an event before its append's fiber resumes: keep both ends, match either way
  const appendedAt = new Map<string, number>()
  const receivedAt = new Map<string, number>()
  const latencies: Array<number> = []
  const record = (appended: number, received: number) => latencies.push(Math.max(0, received - appended))
  const scope = yield* Scope.make()
  const runner = yield* bus
    .run(
      [topic],
      `bench-${streamType}`,
      (event) =>
        Effect.map(nowMs, (now) => {
          const start = appendedAt.get(event.eventId)
          if (start !== undefined) record(start, now)
          else receivedAt.set(event.eventId, now)
        }),
      { fromBeginning: true }
    )
    .pipe(Scope.provide(scope))
  yield* runner.ready
  yield* Relay.start({ name: `bench-latency-${streamType}`, streamTypes: [streamType] }).pipe(Scope.provide(scope))
  const seconds = quick ? 5 : 15
  const rate = 200
  const started = yield* nowMs
  const fibers: Array<Fiber.Fiber<void, unknown>> = []
  for (let i = 0; i < rate * seconds; i++) {
    const wait = started + (i * 1000) / rate - (yield* nowMs)
    if (wait > 0) yield* Effect.sleep(`${wait} millis`)
    fibers.push(
      yield* Effect.forkChild(
        Effect.gen(function* () {
          const result = yield* store.append(
            `${streamType}-${i % 50}`,
            ExpectedVersion.Any,
            [{ type: "Ticked", schemaVersion: 1, data: { i }, metadata }],
            { streamType }
          )
          const now = yield* nowMs
          for (const event of result.events) {
            const received = receivedAt.get(event.eventId)
            if (received !== undefined) record(now, received)
            else appendedAt.set(event.eventId, now)
          }
        })
      )
    )
  }
  yield* Fiber.joinAll(fibers)
  const expected = rate * seconds
  yield* Effect.sync(() => latencies.length).pipe(
    Effect.repeat({ until: (n) => n >= expected, schedule: Schedule.spaced("20 millis") }),
    Effect.timeout("60 seconds"),
    Effect.ignore
  )
  yield* Scope.close(scope, Exit.void)
  const sorted = [...latencies].sort((a, b) => a - b)
  process.stdout.write(
    `end-to-end append -> consumer handler at ${rate}/s: p50 ${percentile(sorted, 50).toFixed(1)} ms, p95 ${percentile(sorted, 95).toFixed(1)} ms, p99 ${percentile(sorted, 99).toFixed(1)} ms (n=${sorted.length}/${expected})\n`
  )
})

const database = `eventline_bench_${randomUUID().replaceAll("-", "").slice(0, 12)}`
const admin = PgClient.layer({ url: Redacted.make(adminUrl), maxConnections: 1 })
const onAdmin = <A, E>(effect: Effect.Effect<A, E, SqlClient.SqlClient>) => Effect.scoped(Effect.provide(effect, admin))
const url = new URL(adminUrl)
url.pathname = `/${database}`

const Store = Layer.mergeAll(PgEventStore.layer, PgCommitSignal.layer, PgSubscriptionStores.layer).pipe(
  Layer.provideMerge(Migrations.layer),
  Layer.provideMerge(PgClient.layer({ url: Redacted.make(url.toString()), maxConnections: 10 }))
)
const Kafka = KafkaEventBus.layer({
  maxWaitTimeInMs: 20,
  heartbeatInterval: 500,
  sessionTimeout: 6000,
  maxBatchSize: batchSize
}).pipe(
  Layer.provideMerge(KafkaProducer.layer()),
  Layer.provideMerge(KafkaClient.layer({ brokers: [broker], clientId: "eventline-bench" }))
)

const program = Effect.gen(function* () {
  process.stdout.write(`kafka benchmark${quick ? " (quick)" : ""}: broker ${broker}, node ${process.version}\n`)
  yield* Effect.acquireRelease(onAdmin(SqlClient.SqlClient.use((sql) => sql`CREATE DATABASE ${sql(database)}`)), () =>
    onAdmin(SqlClient.SqlClient.use((sql) => sql`DROP DATABASE IF EXISTS ${sql(database)} WITH (FORCE)`)).pipe(
      Effect.orDie
    )
  )
  yield* Effect.gen(function* () {
    yield* relayThroughput
    if (!process.argv.includes("--throughput-only")) yield* endToEndLatency
  }).pipe(Effect.provide(Layer.mergeAll(Store, Kafka)))
}).pipe(Effect.scoped, Effect.provideService(References.MinimumLogLevel, "Error"))

const exit = await Effect.runPromiseExit(program)
if (Exit.isFailure(exit)) {
  process.stderr.write(`benchmark failed: ${Cause.pretty(exit.cause)}\n`)
  process.exitCode = 1
}
