/**
 * Soak test of the Order service (issue 12 §7), not part of `npm test`:
 *
 *   npm run soak -- [--duration "30 minutes"] [--fault-interval "60 seconds"] [--rate 40] [--threshold 0.999]
 *                   [--no-kafka] [--out result.json] [--database eventline_soak] [--kafka-port 9192] [--seed n]
 *
 * (or SOAK_DURATION, SOAK_FAULT_INTERVAL, SOAK_NO_KAFKA=true, ...). main.ts runs as a child process on
 * 127.0.0.1 over a database of its own (dropped at the end) and a broker of its own (scripts/kafka on
 * --kafka-port and the next one; --no-kafka: the in-process bus). Open-loop load at --rate: create,
 * confirm, cancel, restock, GET /orders/:id (half with ?consistent=true), GET /orders; an SSE client
 * on /events/live resuming by Last-Event-ID. A probe order a second measures the read-model lag
 * (ack to GET /orders/:id) and the saga lag (confirm to its unit taken from GET /inventory/:id);
 * /metrics and the oldest open transaction on the server (it holds back every reader) are sampled.
 * Faults, one at a time every 0.5-1.5 x --fault-interval: pg_terminate_backend of the service's
 * connections, a broker restart, a service restart by SIGTERM or SIGKILL (a restart window lasts
 * from the signal until /health/live answers). Availability: requests answered 2xx/4xx within 1 s
 * over all sent, with and without those sent inside restart windows (those in flight at the signal
 * count in both); the gate uses the second, since one process cannot answer while it restarts.
 * Lost writes: every 200/201 command's (stream, version) must be in eventline.events at the end.
 * Exit 1 when a write was lost or availability < --threshold; the result is written to --out.
 */
import { writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Config, ConfigProvider, Duration, Effect, Fiber, FiberSet, Option, Schedule, Schema } from "effect"
import { broker, database, freePort, service } from "./processes.ts"

// --name value / --name=value / --flag  ->  SOAK_NAME
const flags: Record<string, string> = {}
process.argv.slice(2).forEach((arg, i, args) => {
  const [, name, inline] = /^--([\w-]+)(?:=(.*))?$/s.exec(arg) ?? []
  const next = args[i + 1]
  if (name === undefined) return
  flags[`SOAK_${name.toUpperCase().replaceAll("-", "_")}`] =
    inline ?? (next === undefined || next.startsWith("--") ? "true" : next)
})

const settings = Config.all({
  duration: Config.Duration("SOAK_DURATION").pipe(Config.withDefault(Duration.minutes(30))),
  faultInterval: Config.Duration("SOAK_FAULT_INTERVAL").pipe(Config.withDefault(Duration.seconds(60))),
  rate: Config.Number("SOAK_RATE").pipe(Config.withDefault(40)),
  threshold: Config.Number("SOAK_THRESHOLD").pipe(Config.withDefault(0.999)),
  noKafka: Config.Boolean("SOAK_NO_KAFKA").pipe(Config.withDefault(false)),
  out: Config.String("SOAK_OUT").pipe(Config.withDefault(join(tmpdir(), "eventline-soak.json"))),
  database: Config.String("SOAK_DATABASE").pipe(Config.withDefault("eventline_soak")),
  kafkaPort: Config.Port("SOAK_KAFKA_PORT").pipe(Config.withDefault(9192)),
  seed: Config.Int("SOAK_SEED").pipe(Config.withDefault(Math.floor(Math.random() * 2 ** 31))),
  adminUrl: Config.String("DATABASE_URL").pipe(Config.withDefault("postgres://postgres@127.0.0.1:5432/postgres"))
})

/** mulberry32, seeded: --seed replays a run's choices and fault schedule. */
const generator = (seed: number) => () => {
  seed = (seed + 0x6d2b79f5) | 0
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed)
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296
}

// the mix, in percent
const mix = { create: 30, confirm: 15, cancel: 8, restock: 7, get: 15, "get consistent": 10, list: 15 }
type Kind = keyof typeof mix
const kinds = Object.keys(mix) as Array<Kind>
const products = Array.from({ length: 8 }, (_, i) => `soak-p${i}`)
const probeProduct = "soak-probe"

/** status 0: no answer (a connection error, or nothing within 10 s) */
type Reply = { readonly status: number; readonly latency: number; readonly text: string }
/** start: ms since the load began */
type Sample = Omit<Reply, "text"> & { readonly kind: Kind; readonly start: number }
/** streamId: "<stream type>/<id in the API>"; type: the event type it must have, when known */
type Ack = { readonly streamId: string; readonly version: number; readonly type?: string }

const Accepted = Schema.fromJsonString(Schema.Struct({ version: Schema.Int }))
const Stock = Schema.fromJsonString(Schema.Struct({ available: Schema.Int }))
const versionOf = (reply: Reply) =>
  Option.getOrUndefined(Schema.decodeUnknownOption(Accepted)(reply.text))?.version ?? -1
const succeeds = (reply: Reply) => reply.status >= 200 && reply.status < 300
const answered = (s: Sample) => s.status >= 200 && s.status < 500 && s.latency <= 1000
const share = (list: ReadonlyArray<Sample>) => (list.length === 0 ? 1 : list.filter(answered).length / list.length)
const percentile = (values: ReadonlyArray<number>, p: number) =>
  Math.round([...values].sort((a, b) => a - b)[Math.max(0, Math.ceil((p / 100) * values.length) - 1)] ?? 0)

const program = Effect.gen(function* () {
  const options = yield* settings
  const random = generator(options.seed)
  const pick = <A>(items: ReadonlyArray<A>): A => items[Math.floor(random() * items.length)] as A
  const runTag = options.seed.toString(36)
  const logFile = join(tmpdir(), `eventline-soak-${runTag}.service.log`)
  const bus = options.noKafka ? "in-process bus" : `Kafka on 127.0.0.1:${options.kafkaPort}`
  console.log(
    `soak: ${Duration.format(options.duration)}, ${options.rate} req/s, ${bus}, seed ${options.seed}, log ${logFile}`
  )

  const db = yield* database(options.adminUrl, options.database)
  const kafka = options.noKafka ? undefined : yield* broker(options.kafkaPort)
  const env = { DATABASE_URL: db.url, LOG_LEVEL: "Warn", LOG_FORMAT: "json", EVENTLINE_SHUTDOWN_TIMEOUT: "10 seconds" }
  const orders = yield* service(yield* freePort, { ...env, ...(kafka && { KAFKA_BROKERS: kafka.brokers }) }, logFile)
  yield* orders.start
  yield* orders.ready

  const call = (method: string, path: string, body?: unknown) =>
    Effect.promise(async (): Promise<Reply> => {
      const started = performance.now()
      const json =
        body === undefined ? {} : { headers: { "content-type": "application/json" }, body: JSON.stringify(body) }
      try {
        const response = await fetch(`${orders.baseUrl}${path}`, {
          method,
          ...json,
          signal: AbortSignal.timeout(10_000)
        })
        const text = await response.text()
        return { status: response.status, latency: performance.now() - started, text }
      } catch {
        return { status: 0, latency: performance.now() - started, text: "" }
      }
    })
  const acks: Array<Ack> = []
  for (const productId of [...products, probeProduct]) {
    const reply = yield* call("POST", `/inventory/${productId}/restock`, {
      // the probes' product never runs out; the others do now and then (the saga then cancels)
      quantity: productId === probeProduct ? 1_000_000 : 200
    }).pipe(Effect.repeat({ until: succeeds, schedule: Schedule.spaced("200 millis") }))
    acks.push({ streamId: `Inventory/${productId}`, version: versionOf(reply) })
  }

  // ---- load
  const t0 = performance.now()
  const now = () => performance.now() - t0
  const end = Duration.toMillis(options.duration)
  const samples: Array<Sample> = []
  const created: Array<string> = []
  let sequence = 0
  const deck = kinds.flatMap((kind) => Array.from({ length: mix[kind] }, () => kind))
  /** What one request sends, and the stream its acknowledgement must have written to. */
  const request = (kind: Kind, n: number, target: string) => {
    const productId = pick(products)
    const orderId = `soak-${runTag}-${n}`
    const items = products.slice(n % 6, (n % 6) + 1 + (n % 3)).map((id) => ({ productId: id, quantity: 1, price: 250 }))
    const customerId = `customer-${n % 50}`
    switch (kind) {
      case "create":
        return { method: "POST", path: "/orders", body: { orderId, customerId, items }, stream: orderId }
      case "confirm":
        return { method: "POST", path: `/orders/${target}/confirm`, stream: target }
      case "cancel":
        return { method: "POST", path: `/orders/${target}/cancel`, body: { reason: "soak" }, stream: target }
      case "restock":
        return { method: "POST", path: `/inventory/${productId}/restock`, body: { quantity: 5 }, stream: productId }
      case "list":
        return { method: "GET", path: `/orders?limit=20${n % 2 === 0 ? "&status=pending" : ""}` }
      default:
        return { method: "GET", path: `/orders/${target}${kind === "get" ? "" : "?consistent=true"}` }
    }
  }
  const oneRequest = (wanted: Kind) =>
    Effect.gen(function* () {
      // one of the last 200 orders placed; none yet: place one
      const target = created[created.length - 1 - Math.floor(random() * Math.min(200, created.length))]
      const kind = target === undefined && wanted !== "restock" && wanted !== "list" ? "create" : wanted
      const start = now()
      const { method, path, body, stream } = request(kind, ++sequence, target ?? "")
      const reply = yield* call(method, path, body)
      samples.push({ kind, start, latency: reply.latency, status: reply.status })
      if (stream === undefined || !succeeds(reply)) return
      if (kind === "create") created.push(stream)
      const streamId = `${kind === "restock" ? "Inventory" : "Order"}/${stream}`
      acks.push({ streamId, version: versionOf(reply), ...(kind === "create" && { type: "OrderCreated" }) })
    })
  const load = Effect.gen(function* () {
    const inFlight = yield* FiberSet.make()
    let sent = 0
    while (now() < end) {
      for (; sent < Math.floor((now() * options.rate) / 1000); sent++) {
        yield* FiberSet.run(inFlight, oneRequest(pick(deck)))
      }
      yield* Effect.sleep("10 millis")
    }
    yield* FiberSet.awaitEmpty(inFlight)
  })

  // ---- probes: read-model lag (201 to GET /orders/:id) and saga lag (confirm to the probe's stock taken)
  const lags = { readModel: [] as Array<number>, saga: [] as Array<number>, unresolved: 0 }
  const slowProbes: Array<{ at: number; path: string; ms: number }> = []
  const until = (path: string, done: (reply: Reply) => boolean, into: Array<number>) =>
    Effect.gen(function* () {
      const from = now()
      const found = yield* call("GET", path).pipe(
        Effect.repeat({ until: done, schedule: Schedule.spaced("20 millis") }),
        Effect.timeoutOption("2 minutes")
      )
      if (Option.isNone(found)) lags.unresolved++
      else into.push(now() - from)
      if (now() - from > 1000) slowProbes.push({ at: Math.round(from / 1000), path, ms: Math.round(now() - from) })
    })
  const availableOf = (reply: Reply): number | undefined =>
    reply.status === 200 ? Option.getOrUndefined(Schema.decodeUnknownOption(Stock)(reply.text))?.available : undefined
  const probe = Effect.gen(function* () {
    const orderId = `soak-${runTag}-probe-${++sequence}`
    const items = [{ productId: probeProduct, quantity: 1, price: 1 }]
    const placed = yield* call("POST", "/orders", { orderId, customerId: "probe", items })
    if (placed.status !== 201) return
    acks.push({ streamId: `Order/${orderId}`, version: 1, type: "OrderCreated" })
    yield* until(`/orders/${orderId}`, (r) => r.status === 200, lags.readModel)
    // the saga reserves one unit and commits it at once: the product's available count drops
    const stockBefore = availableOf(yield* call("GET", `/inventory/${probeProduct}`))
    if (stockBefore === undefined) return
    const confirmed = yield* call("POST", `/orders/${orderId}/confirm`).pipe(
      Effect.repeat({ until: (r) => r.status > 0 && r.status < 500, schedule: Schedule.spaced("100 millis") })
    )
    if (!succeeds(confirmed)) return
    acks.push({ streamId: `Order/${orderId}`, version: versionOf(confirmed) })
    yield* until(`/inventory/${probeProduct}`, (r) => (availableOf(r) ?? stockBefore) < stockBefore, lags.saga)
  }).pipe(Effect.andThen(Effect.sleep("1 second")), Effect.forever)

  // ---- /metrics every second: the largest lag each subscription and consumer group reported
  const metricLags: Record<string, number> = {}
  const lagLine =
    /^eventline_(?:subscription_lag_events\{subscription|consumer_lag_messages\{group)="([^"]+)"[^}]*\} (\d+)/gm
  // and the oldest transaction open on the server: a long one (of any database) holds back every reader
  let oldestTransactionMs = 0
  const metrics = Effect.gen(function* () {
    for (const [, name = "", n] of (yield* call("GET", "/metrics")).text.matchAll(lagLine)) {
      metricLags[name] = Math.max(metricLags[name] ?? 0, Number(n))
    }
    oldestTransactionMs = Math.max(oldestTransactionMs, yield* Effect.orElseSucceed(db.oldestTransaction, () => 0))
  }).pipe(Effect.repeat(Schedule.spaced("1 second")))

  // ---- SSE: every event once and in order, across reconnects
  const sse = { received: 0, outOfOrder: 0, connections: 0, lastId: "" }
  const sseClient = Effect.promise(async (signal) => {
    try {
      const resume: Record<string, string> = sse.lastId === "" ? {} : { "last-event-id": sse.lastId }
      const response = await fetch(`${orders.baseUrl}/events/live`, { headers: resume, signal })
      if (response.ok) sse.connections++
      let buffer = ""
      for await (const chunk of response.body ?? []) {
        const lines = (buffer + new TextDecoder().decode(chunk)).split("\n")
        buffer = lines.pop() ?? ""
        for (const id of lines.filter((line) => line.startsWith("id:")).map((line) => line.slice(3).trim())) {
          if (id <= sse.lastId) sse.outOfOrder++
          else {
            sse.received++
            sse.lastId = id
          }
        }
      }
    } catch {
      // the service restarted or dropped the connection: reconnect
    }
  }).pipe(Effect.repeat(Schedule.spaced("500 millis")))

  // ---- faults, one at a time
  const faultKinds = ["pg-terminate", ...(kafka ? ["kafka-restart"] : []), "service-sigterm", "service-kill"]
  const faults: Array<{ at: number; kind: string; ms: number; detail: string }> = []
  const windows: Array<{ from: number; to: number }> = []
  const inject = (kind: string) =>
    Effect.gen(function* () {
      if (kind === "pg-terminate") return `${yield* db.terminateBackends} backends terminated`
      if (kind === "kafka-restart" && kafka) {
        const down = 1000 + Math.floor(random() * 4000)
        yield* kafka.restart(down)
        return `broker down ${down} ms`
      }
      const from = now()
      yield* orders.restart(kind === "service-kill" ? "SIGKILL" : "SIGTERM")
      windows.push({ from, to: now() })
      return "answering again"
    })
  const injector = Effect.gen(function* () {
    while (true) {
      const wait = Duration.toMillis(options.faultInterval) * (0.5 + random())
      yield* Effect.sleep(Math.min(wait, Math.max(0, end - now())))
      if (now() >= end) return
      const kind = pick(faultKinds)
      const at = now()
      const detail = yield* inject(kind).pipe(Effect.catch((error) => Effect.succeed(`FAILED: ${error.message}`)))
      faults.push({ at: Math.round(at / 1000), kind, ms: Math.round(now() - at), detail })
      console.log(`soak: at ${Math.round(at / 1000)} s ${kind}: ${detail} after ${Math.round(now() - at)} ms`)
    }
  })

  const watching = yield* Effect.forEach([orders.watchdog, sseClient], (fiber) => Effect.forkChild(fiber))
  const measuring = yield* Effect.forEach([probe, metrics], (fiber) => Effect.forkChild(fiber))
  const injecting = yield* Effect.forkChild(injector)
  yield* load
  yield* Fiber.join(injecting)
  yield* Fiber.interruptAll(measuring)
  // until the store stops growing (the saga settles) and the SSE client has every event; at most a minute
  let previous = -1
  yield* Effect.orDie(db.storedEvents).pipe(
    Effect.map((rows) => {
      const settled = rows.length === previous && sse.received >= rows.length
      previous = rows.length
      return settled
    }),
    Effect.repeat({ until: Boolean, schedule: Schedule.spaced("1 second") }),
    Effect.timeoutOption("1 minute")
  )
  yield* Fiber.interruptAll(watching)

  // ---- lost acknowledged writes, read straight from the store's table
  const rows = yield* Effect.orDie(db.storedEvents)
  // the API's ids may be stored with their category in front ("Order-<id>")
  const apiId = (row: (typeof rows)[number]) =>
    row.stream_id.startsWith(`${row.stream_type}-`) ? row.stream_id.slice(row.stream_type.length + 1) : row.stream_id
  const stored = new Map(rows.map((row) => [`${row.stream_type}/${apiId(row)}@${row.version}`, row.event_type]))
  const lost = acks.filter((ack) => {
    const type = stored.get(`${ack.streamId}@${ack.version}`)
    return type === undefined || (ack.type !== undefined && type !== ack.type)
  })

  // ---- report
  const outside = samples.filter((s) => !windows.some((w) => s.start >= w.from && s.start <= w.to))
  const result = {
    ...options,
    duration: Duration.format(options.duration),
    faultInterval: Duration.format(options.faultInterval),
    requests: samples.length,
    availability: share(samples),
    availabilityOutsideRestartWindows: share(outside),
    byKind: kinds.map((kind) => {
      const list = samples.filter((s) => s.kind === kind)
      const count = (p: (s: Sample) => boolean) => list.filter(p).length
      const slow = count((s) => s.status > 0 && s.status < 500 && s.latency > 1000)
      const [fivexx, none, latencies] = [
        count((s) => s.status >= 500),
        count((s) => !s.status),
        list.map((s) => s.latency)
      ]
      return { kind, sent: list.length, answered: share(list), fivexx, none, slow, p99: percentile(latencies, 99) }
    }),
    acknowledgedWrites: acks.length,
    lostWrites: lost.length,
    lostExamples: lost.slice(0, 10),
    readModelLagMs: { max: percentile(lags.readModel, 100), p99: percentile(lags.readModel, 99) },
    sagaLagMs: { max: percentile(lags.saga, 100), p99: percentile(lags.saga, 99) },
    probes: { readModel: lags.readModel.length, saga: lags.saga.length, unresolved: lags.unresolved, slowProbes },
    maxLagFromMetrics: metricLags,
    oldestTransactionMs,
    sse: { ...sse, storedEvents: rows.length },
    faults,
    failedOutsideRestartWindows: outside.filter((s) => !answered(s)).slice(0, 100),
    restartWindows: windows.map((w) => ({ at: Math.round(w.from / 1000), ms: Math.round(w.to - w.from) })),
    unexpectedServiceExits: orders.unexpectedExits,
    serviceLog: logFile
  }
  const pass = lost.length === 0 && result.availabilityOutsideRestartWindows >= options.threshold
  writeFileSync(options.out, `${JSON.stringify({ ...result, pass }, null, 2)}\n`)

  const pct = (x: number) => `${(x * 100).toFixed(3)} %`
  const ms = (lag: { max: number; p99: number }) => `${lag.max} / ${lag.p99} ms`
  const table = (header: string, lines: ReadonlyArray<ReadonlyArray<string | number>>) =>
    [header, header.replace(/[^|]+/g, " --- "), ...lines.map((cells) => `| ${cells.join(" | ")} |`)].join("\n")
  console.log(
    `\n${table(
      "| kind | sent | 2xx/4xx within 1 s | 5xx | no answer | slow | p99 ms |",
      result.byKind.map((k) => [k.kind, k.sent, pct(k.answered), k.fivexx, k.none, k.slow, k.p99])
    )}\n\n${table("| figure | value |", [
      ["requests sent", samples.length],
      ["availability, all requests", pct(result.availability)],
      [
        `availability outside restart windows (gate ${options.threshold})`,
        `${pct(result.availabilityOutsideRestartWindows)} (${samples.length - outside.length} requests in ${windows.length} windows left out)`
      ],
      ["lost acknowledged writes", `${lost.length} of ${acks.length}`],
      ["read-model lag, max / p99", `${ms(result.readModelLagMs)} (${lags.readModel.length} probes)`],
      ["saga lag, max / p99", `${ms(result.sagaLagMs)} (${lags.saga.length} probes, ${lags.unresolved} unresolved)`],
      ["max lag in /metrics (events)", JSON.stringify(metricLags)],
      ["oldest transaction open on the server", `${oldestTransactionMs} ms`],
      ["SSE", `${sse.received} of ${rows.length} events, ${sse.outOfOrder} out of order, ${sse.connections} connects`],
      ["faults", faultKinds.map((kind) => `${kind} ${faults.filter((f) => f.kind === kind).length}`).join(", ")],
      ["unexpected service exits", orders.unexpectedExits.length],
      ["verdict", `${pass ? "PASS" : "FAIL"} (${options.out}; service log ${logFile})`]
    ])}`
  )
  return pass
})

const provider = ConfigProvider.fromEnvRecord({ ...process.env, ...flags })
Effect.runPromise(Effect.scoped(program).pipe(Effect.provideService(ConfigProvider.ConfigProvider, provider))).then(
  (pass) => {
    process.exitCode = pass ? 0 : 1
  },
  (error: unknown) => {
    process.stderr.write(`soak: ${String(error)}\n`)
    process.exitCode = 1
  }
)
