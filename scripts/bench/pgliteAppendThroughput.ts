/**
 * Benchmark 3: append throughput on the embedded store (`PgStore.layerEmbedded()`, PGlite in
 * memory), against
 * - raw multi-row INSERTs into a plain table on the same PGlite client (the baseline), and
 * - the in-memory store (`InMemoryEventStore`), a second reference line: what the same workload
 *   costs with no database at all.
 *
 * PGlite is one backend session: the 8 fibers queue for its single connection, on both sides.
 * The PGlite instance is acquired and released by the layer (acquireRelease in PgliteClient).
 */
import * as EventStore from "@eventline/core/EventStore"
import * as InMemoryEventStore from "@eventline/core/InMemoryEventStore"
import * as PgStore from "@eventline/postgres/PgStore"
import { Effect } from "effect"
import { SqlClient } from "effect/sql"
import { eventlineWriter, streamType, warmupShape } from "./appendThroughput.ts"
import {
  type AppendShape,
  alternate,
  type BenchOptions,
  cpuNote,
  describeRounds,
  describeShape,
  makeBatches,
  progress,
  type ReportRow,
  type Rounds,
  runAppendWorkload,
  type Section,
  throughputRow
} from "./common.ts"
import { createBaselineTables, rawInsertWriter } from "./postgres.ts"

const shapes = (quick: boolean): { readonly list: ReadonlyArray<AppendShape>; readonly rounds: Rounds } => {
  const concurrency = 8
  return quick
    ? {
        list: [
          { streams: 20, appendsPerStream: 5, eventsPerAppend: 10, concurrency },
          { streams: 20, appendsPerStream: 5, eventsPerAppend: 1, concurrency }
        ],
        rounds: { max: 2, budgetSeconds: 1 }
      }
    : {
        list: [
          { streams: 100, appendsPerStream: 10, eventsPerAppend: 10, concurrency },
          { streams: 100, appendsPerStream: 10, eventsPerAppend: 1, concurrency }
        ],
        rounds: { max: 5, budgetSeconds: 4 }
      }
}

export const run = (options: BenchOptions) =>
  Effect.gen(function* () {
    yield* progress("PGlite: starting the embedded store (in memory)")
    return yield* Effect.gen(function* () {
      const sql = yield* SqlClient.SqlClient
      const store = yield* EventStore.EventStore
      const memory = yield* InMemoryEventStore.make
      yield* createBaselineTables
      const { list, rounds } = shapes(options.quick)
      const plain = rawInsertWriter(sql, "bench.plain_events", streamType)
      const eventline = eventlineWriter(store)
      const inMemory = eventlineWriter(memory)
      const rows: Array<ReportRow> = []
      const notes: Array<string> = []
      for (const shape of list) {
        const batches = makeBatches(shape)
        const warm = warmupShape(shape)
        const warmBatches = makeBatches(warm)
        yield* progress(`PGlite append ${describeShape(shape)}: warm-up, then ${describeRounds(rounds)}, twice`)
        yield* runAppendWorkload(warm, warmBatches, "warm-base", plain)
        yield* runAppendWorkload(warm, warmBatches, "warm-evl", eventline)
        yield* runAppendWorkload(warm, warmBatches, "warm-mem", inMemory)
        const vsRaw = yield* alternate({
          rounds,
          baseline: () => runAppendWorkload(shape, batches, "base", plain),
          eventline: () => runAppendWorkload(shape, batches, "evl", eventline)
        })
        const vsMemory = yield* alternate({
          rounds,
          baseline: () => runAppendWorkload(shape, batches, "mem", inMemory),
          eventline: () => runAppendWorkload(shape, batches, "evl", eventline)
        })
        const k = shape.eventsPerAppend
        rows.push(
          throughputRow(`PGlite append k=${k} (${describeShape(shape)})`, vsRaw, "raw INSERT on the same PGlite"),
          throughputRow(`  same, vs InMemoryEventStore (reference), k=${k}`, vsMemory, "InMemoryEventStore")
        )
        // PGlite runs on this process's thread: its CPU is the whole cost of both sides
        notes.push(cpuNote(`PGlite append k=${k} (PGlite included)`, vsRaw))
      }
      return {
        title: "PGlite append",
        rows,
        notes: [
          ...notes,
          "PGlite append: PgStore.layerEmbedded() in memory; baseline = raw INSERTs through the same client (one connection, 8 fibers queue for it); InMemoryEventStore runs the same workload with no database."
        ]
      } satisfies Section
    }).pipe(Effect.provide(PgStore.layerEmbedded()))
  })
