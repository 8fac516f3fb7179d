/**
 * What every benchmark shares: the command line, the report rows, timing, the alternating
 * eventline/baseline comparison, and the event fixtures.
 *
 * Figures are never judged on their own: each benchmark runs its baseline in the same process,
 * in the same run, alternating with the eventline side (ABBA order, so a linear drift of the
 * machine cancels out), and the report gives the median of the per-pair ratios.
 */
import type * as EventEnvelope from "@eventline/core/EventEnvelope"
import { Effect } from "effect"

export interface BenchOptions {
  /** Smaller sizes and fewer repetitions: a smoke run. */
  readonly quick: boolean
  /** The admin URL of PostgreSQL (a database that may CREATE DATABASE). */
  readonly adminUrl: string
}

export const parseOptions = (argv: ReadonlyArray<string>, env: NodeJS.ProcessEnv): BenchOptions => ({
  quick: argv.includes("--quick"),
  adminUrl: env.DATABASE_URL || "postgres://postgres@127.0.0.1:5432/postgres"
})

/** One line of the report. */
export interface ReportRow {
  readonly benchmark: string
  readonly eventline: string
  readonly baseline: string
  readonly ratio: string
  readonly meaning: string
}

/** What one benchmark module hands back: its rows, and remarks printed under the table. */
export interface Section {
  readonly title: string
  readonly rows: ReadonlyArray<ReportRow>
  readonly notes: ReadonlyArray<string>
}

const pad = (text: string, width: number) => text + " ".repeat(Math.max(0, width - text.length))

/** The report's table: one column per `ReportRow` field, padded to the widest cell. */
export const table = (rows: ReadonlyArray<ReportRow>): string => {
  const header: ReportRow = {
    benchmark: "benchmark",
    eventline: "eventline",
    baseline: "baseline",
    ratio: "ratio e/b [range] n=rounds",
    meaning: "meaning"
  }
  const keys = ["benchmark", "eventline", "baseline", "ratio", "meaning"] as const
  const widths = keys.map((key) => Math.max(...[header, ...rows].map((row) => row[key].length)))
  const line = (row: ReportRow) =>
    keys
      .map((key, index) => pad(row[key], widths[index] as number))
      .join(" | ")
      .trimEnd()
  const rule = widths.map((width) => "-".repeat(width)).join("-|-")
  return [line(header), rule, ...rows.map(line)].join("\n")
}

/** A benchmark that could not run (e.g. no PostgreSQL): one row saying why. */
export const skippedRow = (benchmark: string, reason: string): ReportRow => ({
  benchmark,
  eventline: "skipped",
  baseline: "-",
  ratio: "-",
  meaning: reason
})

const processStart = performance.now()

/** A progress line on stderr, stamped with the seconds since the run began. */
export const progress = (line: string): Effect.Effect<void> =>
  Effect.sync(() => {
    process.stderr.write(`  [${((performance.now() - processStart) / 1000).toFixed(1).padStart(5)}s] ${line}\n`)
  })

/** Milliseconds taken by `effect`, with its result. */
export const timed = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<readonly [number, A], E, R> =>
  Effect.gen(function* () {
    const start = performance.now()
    const result = yield* effect
    return [performance.now() - start, result] as const
  })

export const median = (values: ReadonlyArray<number>): number => {
  const sorted = [...values].sort((a, b) => a - b)
  const middle = Math.floor(sorted.length / 2)
  if (sorted.length === 0) return Number.NaN
  return sorted.length % 2 === 1
    ? (sorted[middle] as number)
    : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2
}

/**
 * One measured run: throughput, and the CPU time this (node) process spent per event, user +
 * system. On a 2-core machine shared with PostgreSQL, client CPU is throughput lost.
 */
export interface Sample {
  readonly perSecond: number
  readonly cpuMicrosPerEvent: number
}

/** Runs `effect`, which handles `events` events, and measures it. */
export const measure = <E, R>(events: number, effect: Effect.Effect<unknown, E, R>): Effect.Effect<Sample, E, R> =>
  Effect.gen(function* () {
    const cpu = yield* Effect.sync(() => process.cpuUsage())
    const [ms] = yield* timed(effect)
    const used = yield* Effect.sync(() => process.cpuUsage(cpu))
    return { perSecond: (events * 1000) / ms, cpuMicrosPerEvent: (used.user + used.system) / events }
  })

/** Like `measure`, for an effect that returns how many events it handled. */
export const measureCounted = <E, R>(effect: Effect.Effect<number, E, R>): Effect.Effect<Sample, E, R> =>
  Effect.gen(function* () {
    const cpu = yield* Effect.sync(() => process.cpuUsage())
    const [ms, events] = yield* timed(effect)
    const used = yield* Effect.sync(() => process.cpuUsage(cpu))
    return { perSecond: (events * 1000) / ms, cpuMicrosPerEvent: (used.user + used.system) / events }
  })

/** The samples of an alternating comparison: one eventline and one baseline sample per round. */
export interface Comparison {
  readonly eventline: ReadonlyArray<Sample>
  readonly baseline: ReadonlyArray<Sample>
}

/**
 * How many rounds a comparison runs: up to `max`, but no new round once `budgetSeconds` are
 * spent (always at least one). On a machine busy with other work the runs slow down and the
 * budget, not `max`, decides: the report says how many rounds were run.
 */
export interface Rounds {
  readonly max: number
  readonly budgetSeconds: number
}

/** Whether to start round `round` (0-based) of a comparison that began at `startedAt`. */
export const anotherRound = (rounds: Rounds, round: number, startedAt: number): boolean =>
  round < rounds.max && (round === 0 || performance.now() - startedAt < rounds.budgetSeconds * 1000)

export const describeRounds = (rounds: Rounds): string => `up to ${rounds.max} rounds / ${rounds.budgetSeconds} s`

/**
 * Runs baseline and eventline once each per round in ABBA order (B E, E B, B E, ...), so the
 * pair of one round ran under about the same machine conditions. Generic in the sample type
 * (throughput `Sample` by default; the latency benchmark has its own).
 */
export const alternate = <EB, RB, EE, RE, S = Sample>(options: {
  readonly rounds: Rounds
  readonly baseline: (round: number) => Effect.Effect<S, EB, RB>
  readonly eventline: (round: number) => Effect.Effect<S, EE, RE>
}): Effect.Effect<{ readonly eventline: ReadonlyArray<S>; readonly baseline: ReadonlyArray<S> }, EB | EE, RB | RE> =>
  Effect.gen(function* () {
    const eventline: Array<S> = []
    const baseline: Array<S> = []
    const startedAt = performance.now()
    for (let round = 0; anotherRound(options.rounds, round, startedAt); round++) {
      if (round % 2 === 0) {
        baseline.push(yield* options.baseline(round))
        eventline.push(yield* options.eventline(round))
      } else {
        eventline.push(yield* options.eventline(round))
        baseline.push(yield* options.baseline(round))
      }
    }
    return { eventline, baseline }
  })

/**
 * Several contenders, each run once per round, the order rotated every round (round r starts
 * with contender r mod n), so none is always first or last. Samples by contender name.
 */
export const rotate = <K extends string, E, R, S = Sample>(
  rounds: Rounds,
  contenders: Readonly<Record<K, Effect.Effect<S, E, R>>>
): Effect.Effect<Readonly<Record<K, ReadonlyArray<S>>>, E, R> =>
  Effect.gen(function* () {
    const names = Object.keys(contenders) as Array<K>
    const samples = Object.fromEntries(names.map((name) => [name, [] as Array<S>])) as Record<K, Array<S>>
    const startedAt = performance.now()
    for (let round = 0; anotherRound(rounds, round, startedAt); round++) {
      for (let step = 0; step < names.length; step++) {
        const name = names[(round + step) % names.length] as K
        samples[name].push(yield* contenders[name])
      }
    }
    return samples
  })

/** Per-round ratios eventline/baseline of throughput: the median and the range (the noise, shown). */
export const ratios = (comparison: Comparison) => {
  const each = comparison.eventline.map(
    (sample, index) => sample.perSecond / (comparison.baseline[index] as Sample).perSecond
  )
  return { median: median(each), min: Math.min(...each), max: Math.max(...each), count: each.length }
}

/** A note line: this process's CPU per event on both sides (medians). */
export const cpuNote = (benchmark: string, comparison: Comparison): string => {
  const eventline = median(comparison.eventline.map((sample) => sample.cpuMicrosPerEvent))
  const baseline = median(comparison.baseline.map((sample) => sample.cpuMicrosPerEvent))
  return `node CPU per event, ${benchmark}: eventline ${eventline.toFixed(1)} µs, baseline ${baseline.toFixed(1)} µs (${(eventline / baseline).toFixed(1)}x)`
}

/** A number in a few digits: 1.23k, 45.6k, 1.20M. */
export const compact = (value: number): string => {
  if (!Number.isFinite(value)) return String(value)
  if (value >= 10_000_000) return `${(value / 1_000_000).toFixed(1)}M`
  if (value >= 1_000_000) return `${(value / 1_000_000).toFixed(2)}M`
  if (value >= 10_000) return `${(value / 1000).toFixed(1)}k`
  if (value >= 1000) return `${(value / 1000).toFixed(2)}k`
  return value >= 100 ? value.toFixed(0) : value.toFixed(1)
}

export const formatRate = (perSecond: number): string => `${compact(perSecond)} ev/s`

export const formatRatio = (ratio: ReturnType<typeof ratios>): string =>
  ratio.count > 1
    ? `${ratio.median.toFixed(2)}x [${ratio.min.toFixed(2)}-${ratio.max.toFixed(2)}] n=${ratio.count}`
    : `${ratio.median.toFixed(2)}x n=1`

/** A throughput row (higher is better): eventline/baseline, and what it means in words. */
export const throughputRow = (benchmark: string, comparison: Comparison, baselineName: string): ReportRow => {
  const ratio = ratios(comparison)
  const slower = 1 / ratio.median
  return {
    benchmark,
    eventline: formatRate(median(comparison.eventline.map((sample) => sample.perSecond))),
    baseline: formatRate(median(comparison.baseline.map((sample) => sample.perSecond))),
    ratio: formatRatio(ratio),
    meaning:
      ratio.median >= 1
        ? `eventline ${ratio.median.toFixed(1)}x the throughput of ${baselineName}`
        : `${(ratio.median * 100).toFixed(0)}% of ${baselineName} (${slower.toFixed(1)}x slower)`
  }
}

// ---------------------------------------------------------------------------------------------
// event fixtures

/** The shape of an append workload: `streams` x `appendsPerStream` appends of `eventsPerAppend`. */
export interface AppendShape {
  readonly streams: number
  readonly appendsPerStream: number
  readonly eventsPerAppend: number
  /** How many fibers append at once (each owns one stream at a time). */
  readonly concurrency: number
}

export const totalEvents = (shape: AppendShape): number =>
  shape.streams * shape.appendsPerStream * shape.eventsPerAppend

export const describeShape = (shape: AppendShape): string =>
  `${shape.streams}x${shape.appendsPerStream}x${shape.eventsPerAppend}, c=${shape.concurrency}`

/**
 * A domain-looking event of about 300 bytes of JSON (data and metadata), the same for every
 * store and baseline. Built before timing starts; stores never mutate what they are given.
 */
const makeEvent = (stream: number, round: number, index: number, perAppend: number): EventEnvelope.NewEvent => {
  const line = round * perAppend + index
  return {
    type: index % 3 === 0 ? "OrderLineAdded" : index % 3 === 1 ? "OrderLineRepriced" : "OrderNoteChanged",
    schemaVersion: 1,
    data: {
      orderId: `order-${stream}`,
      line,
      sku: `SKU-${(stream * 31 + line) % 997}`,
      quantity: 1 + (line % 5),
      unitPrice: { amount: `${10 + (line % 90)}.99`, currency: "EUR" },
      tags: ["bench", line % 2 === 0 ? "web" : "store"],
      note: "a short free-text note that makes the payload look like a real one"
    },
    metadata: {
      correlationId: `corr-${stream}-${round}`,
      causationId: `cmd-${stream}-${round}`,
      occurredAt: "2026-01-01T00:00:00.000Z"
    }
  }
}

/** `batches[stream][round]`: the events of every append of the shape, built once. */
export type Batches = ReadonlyArray<ReadonlyArray<ReadonlyArray<EventEnvelope.NewEvent>>>

export const makeBatches = (shape: AppendShape): Batches =>
  Array.from({ length: shape.streams }, (_, stream) =>
    Array.from({ length: shape.appendsPerStream }, (_, round) =>
      Array.from({ length: shape.eventsPerAppend }, (_, index) =>
        makeEvent(stream, round, index, shape.eventsPerAppend)
      )
    )
  )

/** Writes one append: the stream, the 0-based round (the stream's version is round * k), events. */
export type AppendWriter<E, R> = (
  streamId: string,
  round: number,
  events: ReadonlyArray<EventEnvelope.NewEvent>
) => Effect.Effect<unknown, E, R>

let runCounter = 0

/**
 * Runs the workload once on fresh streams (ids unique to this run) and measures it.
 * `concurrency` fibers each take the next stream and append its rounds one after another,
 * each with the exact expected version.
 */
export const runAppendWorkload = <E, R>(
  shape: AppendShape,
  batches: Batches,
  label: string,
  writer: AppendWriter<E, R>
): Effect.Effect<Sample, E, R> =>
  Effect.suspend(() => {
    const run = `${label}-${++runCounter}-${Date.now().toString(36)}`
    const streams = Array.from({ length: shape.streams }, (_, stream) => stream)
    return measure(
      totalEvents(shape),
      Effect.forEach(
        streams,
        (stream) =>
          Effect.gen(function* () {
            const streamId = `${run}-${stream}`
            const rounds = batches[stream] as Batches[number]
            for (let round = 0; round < shape.appendsPerStream; round++) {
              yield* writer(streamId, round, rounds[round] as ReadonlyArray<EventEnvelope.NewEvent>)
            }
          }),
        { concurrency: shape.concurrency, discard: true }
      )
    )
  })
