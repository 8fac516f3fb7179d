/**
 * Append → read model latency on PostgreSQL. A fixed-rate open-loop writer appends one
 * OrderCreated (a new order each) through the store at `--rate` per second for `--seconds`; an
 * append's latency runs from its scheduled time (so a slow append delays no later one and is
 * counted) until it is visible:
 *
 * - eventline: the Order read model's subscription committed the batch holding it (its
 *   checkpoint passed the event: `afterCommit`, observed in this process);
 * - baseline: a bare reader woken by the same LISTEN (the store's `CommitSignal`) read it with
 *   the gap-safe `readAll` from its cursor: the NOTIFY round trip and the gap-safe read, nothing
 *   of the subscription.
 *
 * They run in rotating order, each round on the same database, after a short warm-up; the ratio
 * is p95 / the baseline's p95 of the same round (median over rounds). `--per-event` adds the read
 * model as it was before 0.3.0 (a statement per event, durable commit).
 *
 *   node scripts/bench/readModelLatency.ts [--rate=1000] [--seconds=15] [--rounds=2] [--per-event]
 */
import { randomUUID } from "node:crypto"
import { CommitSignal, EventStore, ExpectedVersion, Position, Subscription } from "@eventline/core"
import { OrderAggregate, OrderMigrations, OrderReadModel } from "@eventline/orders"
import { PgStore } from "@eventline/postgres"
import { Effect, Fiber, Queue, Redacted, Schedule, type Scope, Stream } from "effect"
import { median, parseOptions, progress, rotate } from "./common.ts"
import { throwawayDatabase } from "./postgres.ts"

const options = parseOptions(process.argv, process.env)
const argument = (name: string, fallback: number) =>
  Number(process.argv.find((arg) => arg.startsWith(`--${name}=`))?.split("=")[1] ?? fallback)
const rate = argument("rate", 1000)
const seconds = argument("seconds", options.quick ? 5 : 15)
const rounds = { max: argument("rounds", 2), budgetSeconds: 150 }
/** Also the read model with a statement per event and a durable commit (as before 0.3.0). */
const comparePerEvent = process.argv.includes("--per-event")
const streamTypes = [OrderAggregate.streamType]
const metadata = { correlationId: "bench", occurredAt: "2026-01-01T00:00:00.000Z" }
const created = {
  type: "OrderCreated",
  schemaVersion: 1,
  data: { customerId: "c-1", items: [{ productId: "p", quantity: 2, price: 150 }], totalAmount: 300 },
  metadata
}

interface LatencySample {
  /** From the scheduled append time. */
  readonly p50: number
  readonly p95: number
  readonly p99: number
  /** From the moment the append returned (committed): the read side alone. */
  readonly committedP95: number
  readonly appendsPerSecond: number
  readonly cpuMicrosPerAppend: number
  readonly missing: number
}

/** By stream id (one append each): when it was scheduled, when its append returned, when it was seen. */
interface Tracker {
  readonly scheduled: Map<string, number>
  readonly committed: Map<string, number>
  readonly visible: Map<string, number>
}

const observe = (tracker: Tracker, streamIds: Iterable<string>) => {
  const now = performance.now()
  for (const streamId of streamIds) {
    if (tracker.scheduled.has(streamId) && !tracker.visible.has(streamId)) tracker.visible.set(streamId, now)
  }
}

/** p50/p95/p99 of `visible - from` over the appends seen. */
const percentiles = (tracker: Tracker, from: Map<string, number>) => {
  const sorted = Array.from(tracker.visible, ([streamId, at]) => Math.max(0, at - (from.get(streamId) ?? at))).sort(
    (a, b) => a - b
  )
  const percentile = (p: number) =>
    sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN
  return { p50: percentile(50), p95: percentile(95), p99: percentile(99) }
}

let runs = 0

/** One measured run: `startObserver` follows the log for the scope, then the open-loop writer. */
const run = (
  label: string,
  startObserver: (tracker: Tracker) => Effect.Effect<void, unknown, Scope.Scope | Services>,
  runSeconds = seconds
) =>
  Effect.scoped(
    Effect.gen(function* () {
      const store = yield* EventStore.EventStore
      const tracker: Tracker = { scheduled: new Map(), committed: new Map(), visible: new Map() }
      yield* startObserver(tracker)
      const total = Math.round(rate * runSeconds)
      const prefix = `lat-${++runs}-${label}`
      yield* progress(`${label}: ${total} appends at ${rate}/s`)
      const cpu = process.cpuUsage()
      const started = performance.now()
      const appends: Array<Fiber.Fiber<unknown, unknown>> = []
      for (let i = 0; i < total; i++) {
        const at = started + (i * 1000) / rate
        const wait = at - performance.now()
        if (wait > 1) yield* Effect.sleep(`${Math.floor(wait)} millis`)
        const streamId = OrderAggregate.streamIdOf(`${prefix}-${i}`)
        tracker.scheduled.set(streamId, at)
        appends.push(
          yield* Effect.forkChild(
            store
              .append(streamId, ExpectedVersion.NoStream, [created], { streamType: OrderAggregate.streamType })
              .pipe(Effect.tap(() => Effect.sync(() => tracker.committed.set(streamId, performance.now()))))
          )
        )
      }
      yield* Fiber.joinAll(appends)
      const elapsed = (performance.now() - started) / 1000
      yield* Effect.sync(() => tracker.visible.size).pipe(
        Effect.repeat({ until: (seen) => seen >= total, schedule: Schedule.spaced("10 millis") }),
        Effect.timeoutOption("30 seconds")
      )
      const used = process.cpuUsage(cpu)
      const sample: LatencySample = {
        ...percentiles(tracker, tracker.scheduled),
        committedP95: percentiles(tracker, tracker.committed).p95,
        appendsPerSecond: total / elapsed,
        cpuMicrosPerAppend: (used.user + used.system) / total,
        missing: total - tracker.visible.size
      }
      yield* progress(`${label}: p95 ${sample.p95.toFixed(1)} ms, from the commit ${sample.committedP95.toFixed(1)} ms`)
      return sample
    })
  )

/**
 * The read model's subscription, from the end of the log; an event counts once its batch committed.
 * `perEvent`: a statement per event and a durable commit, as before 0.3.0.
 */
const readModel = (perEvent: boolean) => (tracker: Tracker) =>
  Effect.gen(function* () {
    const projection = OrderReadModel.subscription(`latency-${randomUUID()}`)
    const handle = yield* Subscription.start({
      ...projection,
      handleBatchAtomically: perEvent ? undefined : projection.handleBatchAtomically,
      startFrom: "end",
      afterCommit: (batch) =>
        Effect.sync(() =>
          observe(
            tracker,
            Array.from(batch, (event) => event.streamId)
          )
        )
    })
    yield* handle.caughtUp
  })

/** A bare reader: on each wake-up (or a 1 s poll, as a subscription), the gap-safe readAll from its cursor. */
const bareReader = (tracker: Tracker) =>
  Effect.gen(function* () {
    const store = yield* EventStore.EventStore
    const signal = yield* CommitSignal.CommitSignal
    const wakeUps = yield* Queue.sliding<void>(1)
    yield* signal.changes.pipe(
      Stream.runForEach(() => Queue.offer(wakeUps, undefined)),
      Effect.forkScoped
    )
    let cursor = Position.start
    const readNew = () =>
      Stream.runForEach(store.readAll({ after: cursor, streamTypes, batchSize: 500 }), (event) =>
        Effect.sync(() => {
          cursor = event.position
          observe(tracker, [event.streamId])
        })
      )
    cursor = yield* store.headPosition({ streamTypes })
    yield* Effect.suspend(readNew).pipe(
      Effect.andThen(Queue.take(wakeUps).pipe(Effect.timeoutOption("1 second"))),
      Effect.forever,
      Effect.forkScoped
    )
  })

const program = Effect.gen(function* () {
  process.stdout.write(
    `append → read model latency on PostgreSQL: ${rate}/s for ${seconds} s, node ${process.version}\n`
  )
  const url = yield* throwawayDatabase(options.adminUrl)
  const contenders: Record<string, Effect.Effect<LatencySample, unknown, Services>> = {
    "bare LISTEN + readAll": run("bare LISTEN + readAll", bareReader),
    "read model": run("read model", readModel(false))
  }
  if (comparePerEvent) contenders["read model, per event"] = run("read model, per event", readModel(true))
  const measured = yield* Effect.gen(function* () {
    yield* OrderMigrations.run
    // JIT and lazy loading out of the way: not measured
    yield* run("warm-up", readModel(false), 2)
    return yield* rotate(rounds, contenders)
  }).pipe(Effect.provide(PgStore.layer({ url: Redacted.make(url), maxConnections: 10 })))
  const baseline = measured["bare LISTEN + readAll"] ?? []
  for (const [name, samples] of Object.entries(measured)) {
    const of = (key: keyof LatencySample) => median(samples.map((sample) => sample[key]))
    const p95Ratio = median(samples.map((sample, i) => sample.p95 / (baseline[i]?.p95 ?? Number.NaN)))
    process.stdout.write(
      `${name.padEnd(24)} ${of("appendsPerSecond").toFixed(0).padStart(5)}/s  p50 ${of("p50").toFixed(1)} ms  p95 ${of("p95").toFixed(1)} ms  p99 ${of("p99").toFixed(1)} ms  (p95 from the commit ${of("committedP95").toFixed(1)} ms)  p95/bare ${p95Ratio.toFixed(2)}  node CPU ${of("cpuMicrosPerAppend").toFixed(0)} µs/append  missing ${of("missing")}\n`
    )
  }
  process.stdout.write(`medians of ${baseline.length} rounds\n`)
}).pipe(Effect.scoped)

type Services = EventStore.EventStore | CommitSignal.CommitSignal | Subscription.Services | PgStore.Services

await Effect.runPromise(program)
