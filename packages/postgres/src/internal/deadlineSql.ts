/** The SQL of process managers' deadlines: taken with FOR UPDATE SKIP LOCKED, fired in the same transaction. */
import { DeadlineStore, Errors } from "@eventline/core"
import { Effect, Schema } from "effect"
import { SqlClient, SqlSchema } from "effect/sql"
import { transaction } from "./transaction.ts"
import { retryOnConnectionLoss } from "./transient.ts"

const DueRow = Schema.Struct({
  deadline_id: Schema.String,
  instance_key: Schema.String,
  due_at: Schema.Date,
  input: Schema.Json
})

/** @internal */
export const make = (schema: string) =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const deadlines = sql(`${schema}.deadlines`)
    const quote = (name: string) => `"${name.replaceAll('"', '""')}"`
    const scheduleAllText = `INSERT INTO ${quote(schema)}.deadlines (process_manager, deadline_id, instance_key, due_at, input)
      SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[], $5::jsonb[])
      ON CONFLICT (process_manager, deadline_id) DO NOTHING`

    const nextDue = SqlSchema.findOneOption({
      Request: Schema.Struct({ processManager: Schema.String, now: Schema.String }),
      Result: DueRow,
      execute: ({ now, processManager }) =>
        sql`SELECT deadline_id, instance_key, due_at, input FROM ${deadlines}
          WHERE process_manager = ${processManager} AND status = 'pending' AND due_at <= ${now}::timestamptz
          ORDER BY due_at LIMIT 1 FOR UPDATE SKIP LOCKED`
    })

    return DeadlineStore.DeadlineStore.of({
      schedule: (deadline) =>
        sql`INSERT INTO ${deadlines} (process_manager, deadline_id, instance_key, due_at, input)
          VALUES (${deadline.processManager}, ${deadline.deadlineId}, ${deadline.instanceKey},
            ${deadline.dueAt.toISOString()}::timestamptz, ${JSON.stringify(deadline.input)}::jsonb)
          ON CONFLICT (process_manager, deadline_id) DO NOTHING`.pipe(
          retryOnConnectionLoss(sql),
          Effect.asVoid,
          Effect.mapError(Errors.infrastructure("deadlines.schedule"))
        ),
      // one statement for a batch's deadlines, from parallel arrays
      scheduleAll: (all) =>
        all.length === 0
          ? Effect.void
          : sql
              .unsafe(scheduleAllText, [
                all.map((deadline) => deadline.processManager),
                all.map((deadline) => deadline.deadlineId),
                all.map((deadline) => deadline.instanceKey),
                all.map((deadline) => deadline.dueAt.toISOString()),
                all.map((deadline) => JSON.stringify(deadline.input))
              ])
              .pipe(
                retryOnConnectionLoss(sql),
                Effect.asVoid,
                Effect.mapError(Errors.infrastructure("deadlines.schedule"))
              ),
      fireNext: (processManager, now, fire) =>
        transaction(sql)(
          Effect.gen(function* () {
            const due = yield* nextDue({ processManager, now: now.toISOString() }).pipe(
              Effect.mapError(Errors.infrastructure("deadlines.due"))
            )
            if (due._tag === "None") return false
            yield* fire({
              processManager,
              deadlineId: due.value.deadline_id,
              instanceKey: due.value.instance_key,
              dueAt: due.value.due_at,
              input: due.value.input
            })
            yield* sql`UPDATE ${deadlines} SET status = 'fired'
                WHERE process_manager = ${processManager} AND deadline_id = ${due.value.deadline_id}`.pipe(
              Effect.mapError(Errors.infrastructure("deadlines.fired"))
            )
            return true
          })
        )
    })
  })
