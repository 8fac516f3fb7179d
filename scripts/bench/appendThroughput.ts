/**
 * Benchmark 1: append throughput on PostgreSQL.
 *
 * Eventline: `PgEventStore.append` with exact expected versions, on fresh streams.
 * Baseline: one raw multi-row INSERT per append of the same rows (same jsonb text) into
 * `bench.plain_events` (same columns, no checks, no locks), through the same pool (so the same
 * pool size and the same number of fibers).
 *
 * The store runs without the LISTEN side (`PgCommitSignal`, on a connection of its own). The
 * NOTIFY (by default sent after the commit, coalesced, through the same pool) is measured.
 *
 * Also here, a diagnostic: appends with caller-given event ids, which add the idempotency
 * pre-check (a lookup of those ids before writing).
 */
import * as EventStore from "@eventline/core/EventStore"
import * as ExpectedVersion from "@eventline/core/ExpectedVersion"
import { Effect } from "effect"
import { SqlClient } from "effect/sql"
import {
  type AppendShape,
  type AppendWriter,
  alternate,
  type BenchOptions,
  cpuNote,
  describeRounds,
  describeShape,
  makeBatches,
  progress,
  type ReportRow,
  runAppendWorkload,
  type Section,
  throughputRow
} from "./common.ts"
import { countEvents, rawInsertWriter, uuidV7 } from "./postgres.ts"

export const streamType = "BenchOrder"

/** `store.append` with the exact expected version of the round; optionally with caller event ids. */
export const eventlineWriter =
  (
    store: EventStore.EventStore["Service"],
    options: { readonly callerIds: boolean } = { callerIds: false }
  ): AppendWriter<EventStore.AppendError, never> =>
  (streamId, round, events) =>
    store.append(
      streamId,
      ExpectedVersion.exact(round * events.length),
      options.callerIds ? events.map((event) => ({ ...event, eventId: uuidV7() })) : events,
      { streamType }
    )

const shapes = (quick: boolean) => {
  const concurrency = 8
  return quick
    ? {
        batched: { streams: 40, appendsPerStream: 5, eventsPerAppend: 10, concurrency },
        single: { streams: 40, appendsPerStream: 5, eventsPerAppend: 1, concurrency },
        rounds: { batched: { max: 2, budgetSeconds: 3 }, single: { max: 2, budgetSeconds: 2 } },
        callerIdRounds: { max: 2, budgetSeconds: 1 }
      }
    : {
        batched: { streams: 200, appendsPerStream: 10, eventsPerAppend: 10, concurrency },
        single: { streams: 200, appendsPerStream: 10, eventsPerAppend: 1, concurrency },
        rounds: { batched: { max: 5, budgetSeconds: 15 }, single: { max: 5, budgetSeconds: 10 } },
        callerIdRounds: { max: 3, budgetSeconds: 5 }
      }
}

/** A short run of the shape that opens every pooled connection and prepares its statements. */
export const warmupShape = (shape: AppendShape): AppendShape => ({
  ...shape,
  streams: shape.concurrency * 2,
  appendsPerStream: 2
})

export const run = (options: BenchOptions) =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const store = yield* EventStore.EventStore
    const { batched, single, rounds, callerIdRounds } = shapes(options.quick)
    const plain = rawInsertWriter(sql, "bench.plain_events", streamType)
    const eventline = eventlineWriter(store)
    const rows: Array<ReportRow> = []
    const notes: Array<string> = []

    for (const [shape, plan] of [
      [batched, rounds.batched],
      [single, rounds.single]
    ] as const) {
      const batches = makeBatches(shape)
      const warm = warmupShape(shape)
      const warmBatches = makeBatches(warm)
      yield* progress(`PostgreSQL append ${describeShape(shape)}: warm-up, then ${describeRounds(plan)}`)
      yield* runAppendWorkload(warm, warmBatches, "warm-base", plain)
      yield* runAppendWorkload(warm, warmBatches, "warm-evl", eventline)
      const comparison = yield* alternate({
        rounds: plan,
        baseline: () => runAppendWorkload(shape, batches, "base", plain),
        eventline: () => runAppendWorkload(shape, batches, "evl", eventline)
      })
      const name = `PG append k=${shape.eventsPerAppend}`
      rows.push(throughputRow(`${name} (${describeShape(shape)})`, comparison, "raw INSERT into a plain table"))
      notes.push(cpuNote(name, comparison))
    }

    // Caller-given ids make every append look for an earlier append of them first. That lookup
    // casts the uuid column to text (`event_id::text IN (...)`), which no index serves: a
    // sequential scan of the whole log per append. A small shape, or it alone takes minutes.
    const small: AppendShape = { ...batched, streams: 16, appendsPerStream: 3 }
    const smallBatches = makeBatches(small)
    const logSize = yield* countEvents(sql)
    const withIds = eventlineWriter(store, { callerIds: true })
    yield* progress(`PostgreSQL append with caller event ids ${describeShape(small)}, log of ${logSize} events`)
    const callerIds = yield* alternate({
      rounds: callerIdRounds,
      baseline: () => runAppendWorkload(small, smallBatches, "base", plain),
      eventline: () => runAppendWorkload(small, smallBatches, "ids", withIds)
    })
    rows.push(
      throughputRow(
        `  diag: k=10 with caller event ids, log of ${Math.round(logSize / 1000)}k`,
        callerIds,
        "raw INSERT into a plain table"
      )
    )

    return {
      title: "PostgreSQL append",
      rows,
      notes: [
        ...notes,
        "PG append: exact expected versions on fresh streams; baseline = one multi-row INSERT per append, same rows and jsonb text, same pool (8) and fibers (8); no LISTEN connection on the eventline side.",
        "PG append: eventline NOTIFYs inside each append's transaction, and PostgreSQL serialises the commits of all NOTIFYing transactions of the server (one lock, held through the WAL flush): other NOTIFY traffic on the same server (parallel test suites) slows eventline, not the baseline."
      ]
    } satisfies Section
  })
