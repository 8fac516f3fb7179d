/**
 * Diagnostic for benchmark 1 (full runs only): where an append's time goes, by taking eventline's
 * append apart on PostgreSQL. All contenders write the same k=10 workload, in rotating order each
 * round, and are reported against the plain raw INSERT of the same round. It runs after readAll
 * (so that readAll reads only the append benchmark's log) but is reported next to benchmark 1.
 *
 * - indexed:   raw INSERT into a table with eventline's CHECKs, UNIQUEs and log indexes
 * - sql:       eventline's own append statement (advisory lock, stream row bump, INSERT ...
 *              RETURNING, NOTIFY), sent raw: no validation, no UUIDv7, no Schema decoding
 * - noNotify:  that statement without the NOTIFY
 * - noLock:    that statement without the advisory lock
 * - bare:      that statement with neither (stream row bump + INSERT ... RETURNING only)
 * - store:     `PgEventStore.append` itself
 *
 * So: plain→indexed is index upkeep, indexed→bare the stream row and the CTE, bare→noNotify the
 * lock, bare→noLock the NOTIFY, sql→store the JavaScript side of the store.
 *
 * The statement MIRRORS `appendStatement` in packages/postgres/src/PgEventStore.ts (Exact
 * expectations only); keep the two in step when that statement changes.
 */
import * as EventStore from "@eventline/core/EventStore"
import { Effect } from "effect"
import { SqlClient } from "effect/sql"
import { eventlineWriter, streamType } from "./appendThroughput.ts"
import {
  type AppendShape,
  type AppendWriter,
  type BenchOptions,
  type Comparison,
  cpuNote,
  describeRounds,
  describeShape,
  makeBatches,
  progress,
  type ReportRow,
  type Rounds,
  rotate,
  runAppendWorkload,
  type Section,
  throughputRow
} from "./common.ts"
import { rawInsertWriter, uuidV7 } from "./postgres.ts"

/** PgEventStore's advisory lock class ("EVL1"). */
const streamLockClass = 0x45564c31

const statementWriter =
  (
    sql: SqlClient.SqlClient,
    options: { readonly lock: boolean; readonly notify: boolean }
  ): AppendWriter<unknown, never> =>
  (streamId, round, events) => {
    const total = events.length
    const expected = round * total
    const streams = sql("eventline.streams")
    const lock = options.lock
      ? sql`SELECT pg_advisory_xact_lock(${streamLockClass}::int, hashtext(${streamId}))`
      : sql`SELECT 1`
    const bump =
      expected === 0
        ? sql`INSERT INTO ${streams} (stream_id, stream_type, version)
            SELECT ${streamId}, ${streamType}, ${total}::int FROM stream_lock
            ON CONFLICT (stream_id) DO NOTHING
            RETURNING version`
        : sql`UPDATE ${streams} AS s SET version = s.version + ${total}::int, updated_at = now()
            WHERE s.stream_id = ${streamId} AND s.stream_type = ${streamType} AND s.version = ${expected}::int
              AND EXISTS (SELECT FROM stream_lock)
            RETURNING version`
    const values = sql.join(
      ", ",
      false
    )(
      events.map(
        (event, index) =>
          sql`(${index + 1}::int, ${uuidV7()}::uuid, ${event.type}::text, ${event.schemaVersion}::int,
            ${JSON.stringify(event.data)}::jsonb, ${JSON.stringify(event.metadata)}::jsonb)`
      )
    )
    const notified = options.notify
      ? sql`SELECT pg_notify('eventline_events', json_build_object(
          'streamType', ${streamType}::text,
          'position', lpad(pg_current_xact_id()::text, 20, '0') || '-' || lpad(max(global_position)::text, 20, '0')
        )::text) FROM inserted HAVING count(*) > 0`
      : sql`SELECT 1 FROM inserted HAVING count(*) > 0`
    return sql`WITH stream_lock AS (${lock}),
      bump AS (${bump}),
      inserted AS (
        INSERT INTO eventline.events (stream_id, stream_type, version, event_id, event_type, schema_version, data, metadata)
        SELECT ${streamId}, ${streamType}, bump.version - ${total}::int + v.ordinal,
          v.event_id, v.event_type, v.schema_version, v.data, v.metadata
        FROM bump CROSS JOIN (VALUES ${values}) AS v(ordinal, event_id, event_type, schema_version, data, metadata)
        RETURNING global_position, transaction_id, event_id, version
      ),
      notified AS (${notified})
      SELECT i.global_position, i.transaction_id::text AS transaction_id, i.event_id::text AS event_id, i.version
      FROM inserted i WHERE (SELECT count(*) FROM notified) >= 0 ORDER BY i.version`
  }

export const run = (options: BenchOptions) =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const store = yield* EventStore.EventStore
    const shape: AppendShape = { streams: 100, appendsPerStream: 10, eventsPerAppend: 10, concurrency: 8 }
    const rounds: Rounds = options.quick ? { max: 1, budgetSeconds: 5 } : { max: 5, budgetSeconds: 20 }
    const batches = makeBatches(shape)
    const writers = {
      plain: rawInsertWriter(sql, "bench.plain_events", streamType),
      indexed: rawInsertWriter(sql, "bench.indexed_events", streamType),
      bare: statementWriter(sql, { lock: false, notify: false }),
      noNotify: statementWriter(sql, { lock: true, notify: false }),
      noLock: statementWriter(sql, { lock: false, notify: true }),
      sql: statementWriter(sql, { lock: true, notify: true }),
      store: eventlineWriter(store)
    }
    type Name = keyof typeof writers
    const names = Object.keys(writers) as Array<Name>
    const workload = (name: Name) => runAppendWorkload(shape, batches, `bd-${name}`, writers[name])
    yield* progress(`PostgreSQL append breakdown ${describeShape(shape)}: warm-up, then ${describeRounds(rounds)}`)
    const warm: AppendShape = { ...shape, streams: shape.concurrency * 2, appendsPerStream: 2 }
    const warmBatches = makeBatches(warm)
    yield* Effect.forEach(names, (name) => runAppendWorkload(warm, warmBatches, `bdw-${name}`, writers[name]), {
      discard: true
    })
    const samples = yield* rotate(rounds, {
      plain: workload("plain"),
      indexed: workload("indexed"),
      bare: workload("bare"),
      noNotify: workload("noNotify"),
      noLock: workload("noLock"),
      sql: workload("sql"),
      store: workload("store")
    })
    const versus = (name: Name): Comparison => ({ eventline: samples[name], baseline: samples.plain })
    const row = (name: Name, label: string): ReportRow =>
      throughputRow(`  breakdown k=${shape.eventsPerAppend}: ${label}`, versus(name), "plain INSERT")
    return {
      title: "PostgreSQL append breakdown",
      rows: [
        row("indexed", "raw INSERT + eventline's indexes"),
        row("bare", "+ stream row bump, CTE, RETURNING"),
        row("noNotify", "+ advisory lock (no NOTIFY)"),
        row("noLock", "+ NOTIFY (no lock)"),
        row("sql", "+ both = eventline's SQL, sent raw"),
        row("store", "+ JS side = PgEventStore.append")
      ],
      notes: [
        cpuNote("breakdown, eventline's SQL sent raw vs plain INSERT", versus("sql")),
        cpuNote("breakdown, PgEventStore.append vs plain INSERT", versus("store")),
        "breakdown: eventline's append taken apart (see appendBreakdown.ts); each step's ratio is against the plain INSERT of the same rotation, so the steps can be read against each other."
      ]
    } satisfies Section
  })
