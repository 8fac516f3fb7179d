/**
 * The baseline of the HTTP benchmark (scripts/bench/http.ts), in a child process of its own: a
 * plain node:http server on `PORT` whose `POST /orders` parses the JSON body and INSERTs one row
 * (the event Eventline would store) into a plain table with a bigserial key and
 * UNIQUE (stream_id, version), through the same PostgreSQL client and pool size as the service,
 * one statement, autocommit; then answers 201 with the order id. No framework, no validation, no
 * read: what the box can do for "one HTTP request, one durable insert".
 */
import { randomUUID } from "node:crypto"
import { createServer } from "node:http"
import { PgClient } from "@effect/sql-pg"
import { ManagedRuntime, Redacted } from "effect"
import { SqlClient } from "effect/sql"

const runtime = ManagedRuntime.make(
  PgClient.layer({ url: Redacted.make(process.env.DATABASE_URL ?? ""), maxConnections: 10 })
)

const insert = (orderId: string, body: string) =>
  SqlClient.SqlClient.use(
    (sql) => sql`INSERT INTO bare_events (stream_id, version, event_id, event_type, data, metadata)
      VALUES (${orderId}, 1, ${randomUUID()}, 'OrderCreated', ${body}::jsonb, '{}'::jsonb)`
  )

await runtime.runPromise(
  SqlClient.SqlClient.use(
    (sql) => sql`CREATE TABLE IF NOT EXISTS bare_events (
      global_position bigserial PRIMARY KEY,
      stream_id text NOT NULL,
      version integer NOT NULL,
      event_id uuid NOT NULL,
      event_type text NOT NULL,
      data jsonb NOT NULL,
      metadata jsonb NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now(),
      UNIQUE (stream_id, version)
    )`
  )
)

const server = createServer((request, response) => {
  const chunks: Array<Buffer> = []
  request.on("data", (chunk: Buffer) => chunks.push(chunk))
  request.on("end", () => {
    const answer = (status: number, body: string) => {
      response.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(body) })
      response.end(body)
    }
    if (request.method !== "POST" || request.url !== "/orders") return answer(404, "{}")
    const text = Buffer.concat(chunks).toString("utf8")
    let orderId: string
    try {
      const parsed: unknown = JSON.parse(text)
      const given = typeof parsed === "object" && parsed !== null && "orderId" in parsed ? parsed.orderId : undefined
      orderId = typeof given === "string" ? given : randomUUID()
    } catch {
      return answer(400, "{}")
    }
    runtime.runPromise(insert(orderId, text)).then(
      () => answer(201, JSON.stringify({ orderId, version: 1 })),
      () => answer(500, "{}")
    )
  })
})
server.listen(Number(process.env.PORT ?? "0"), "127.0.0.1")

const stop = () => {
  server.close()
  server.closeAllConnections()
  runtime.dispose().then(() => process.exit(0))
}
process.once("SIGTERM", stop)
process.once("SIGINT", stop)
