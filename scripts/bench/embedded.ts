/**
 * Memory and start-up of the embedded default (issue 10, part 3).
 *
 *   node scripts/bench/embedded.ts [--runs 3] [--commands 10000] [--orders 2000]
 *
 * Every case runs in a child process of its own (this file, `child <case>`, or the Order
 * service's main.ts); this process samples the child's RSS from /proc every 50 ms and reads its
 * peak (VmHWM) when the child is done. Cases, in each round:
 * - floor:     a bare `PGlite.create()` in memory
 * - app/*:     one aggregate through CommandBus over `PgStore.layerEmbedded()`, `--commands`
 *              commands (10 per stream), in memory, on a fresh directory and on it again (reused);
 *              RSS after 10%, 50% and 100% of them, and Node CPU per command
 * - service/*: `npm start` (main.ts) in memory, on a fresh and a reused directory, `--orders`
 *              POST /orders (8 at a time); start-up is spawn until /health/ready answers 200
 * Start-up of floor and app/* is the time to build (PGlite.create, or the layer) after every
 * module was imported, and both collect garbage once when started (not after the commands).
 * Medians of the rounds; ratios are to the floor's median of the same run.
 */
import { type ChildProcess, spawn } from "node:child_process"
import { mkdtempSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { createInterface } from "node:readline"
import { fileURLToPath } from "node:url"
import { PGlite } from "@electric-sql/pglite"
import { Aggregate, CommandBus, Decider } from "@eventline/core"
import * as PgStore from "@eventline/postgres/PgStore"
import { Context, Effect, Layer, Schedule, Schema } from "effect"

const arg = (name: string, fallback: number) => {
  const index = process.argv.indexOf(`--${name}`)
  return index === -1 ? fallback : Number(process.argv[index + 1])
}
const mb = (bytes: number) => Math.round(bytes / 2 ** 20)
const emit = (line: object) => process.stdout.write(`${JSON.stringify(line)}\n`)

// ------------------------------------------------------------------------------------ children

const Command = Schema.TaggedUnion({ Add: { counterId: Schema.String, by: Schema.Int } })
const Event = Schema.TaggedUnion({ Added: { by: Schema.Int } })
const Counter = Aggregate.make({
  streamType: "Counter",
  decider: {
    initialState: 0,
    decide: (command: typeof Command.Type) => Decider.accept(Event.cases.Added.make({ by: command.by })),
    evolve: (total: number, event: typeof Event.Type) => total + event.by
  },
  commands: Command,
  events: Event,
  schemaVersion: 1,
  streamId: (command) => command.counterId
})

/** Resolves when the parent closes our stdin: it has read our peak RSS, and we may close cleanly. */
const released = Effect.promise(
  () =>
    new Promise<void>((resolve) => {
      process.stdin.resume().once("end", resolve)
    })
)

const runChild = (which: string, dataDir: string | undefined) =>
  Effect.gen(function* () {
    const started = performance.now()
    const startCpu = process.cpuUsage()
    const ready = () => {
      const used = process.cpuUsage(startCpu)
      // drop the garbage of start-up (initdb's own instance) so the floor is what PGlite holds
      Reflect.apply(Reflect.get(globalThis, "gc") as () => void, globalThis, [])
      emit({
        startMs: performance.now() - started,
        startCpuMs: (used.user + used.system) / 1000,
        rss: process.memoryUsage().rss
      })
    }
    if (which === "floor") {
      yield* Effect.acquireRelease(
        Effect.promise(() => PGlite.create()),
        (db) => Effect.promise(() => db.close())
      )
      ready()
      return yield* released
    }
    const context = yield* Layer.build(
      CommandBus.layer([CommandBus.fromAggregate(Counter)]).pipe(Layer.provideMerge(PgStore.layerEmbedded({ dataDir })))
    )
    ready()
    const bus = Context.get(context, CommandBus.CommandBus)
    const commands = arg("commands", 10_000)
    const marks = new Set([commands / 10, commands / 2, commands])
    const run = `${process.pid}-${Date.now()}`
    const cpu = process.cpuUsage()
    for (let done = 1; done <= commands; done++) {
      yield* bus.dispatch(Command.cases.Add.make({ counterId: `c-${run}-${Math.floor(done / 10)}`, by: 1 }))
      if (!marks.has(done)) continue
      const used = process.cpuUsage(cpu)
      emit({ commands: done, rss: process.memoryUsage().rss, cpuUs: (used.user + used.system) / done })
    }
    yield* released
  })

// ------------------------------------------------------------------------------------ parent

const self = fileURLToPath(import.meta.url)
const mainTs = fileURLToPath(new URL("../../packages/orders/src/main.ts", import.meta.url))
const procRss = (pid: number, field: "VmRSS" | "VmHWM") => {
  const match = new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, "utf8"))
  return Number(match?.[1] ?? 0) * 1024
}
const cpuMsOf = (pid: number) => {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]?.split(" ") ?? []
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100 // utime + stime, in ticks of 10 ms
}

interface Result {
  readonly startMs: number
  readonly startCpuMs: number
  readonly peak: number
  readonly final: number
  readonly marks: Record<string, number>
  readonly cpuUs: number
}

/** Spawns a child, samples its RSS, lets `drive` run it, then reads its peak and stops it. */
const measure = (
  child: ChildProcess,
  drive: (lines: AsyncIterator<string>) => Promise<Omit<Result, "peak" | "final">>
) =>
  Effect.promise(async () => {
    const pid = child.pid ?? 0
    let last = 0
    const sampler = setInterval(() => {
      last = procRss(pid, "VmRSS")
    }, 50)
    const result = await drive(createInterface({ input: child.stdout ?? process.stdin })[Symbol.asyncIterator]())
    const peak = procRss(pid, "VmHWM")
    clearInterval(sampler)
    const exited = new Promise((resolve) => child.once("exit", resolve))
    // app children close PGlite when their stdin ends; the service shuts down on SIGTERM
    if (child.stdin === null) child.kill("SIGTERM")
    else child.stdin.end()
    await exited
    return { ...result, peak, final: last }
  })

const appCase = (which: string, dataDir?: string) =>
  measure(
    spawn(process.execPath, ["--expose-gc", self, "child", which, dataDir ?? "", ...process.argv.slice(2)], {
      stdio: ["pipe", "pipe", "inherit"]
    }),
    async (lines) => {
      const read = async () => JSON.parse(String((await lines.next()).value)) as Record<string, number>
      const ready = await read()
      const marks: Record<string, number> = { start: ready.rss ?? 0 }
      let cpuUs = 0
      for (let mark = 0; which !== "floor" && mark < 3; mark++) {
        const line = await read()
        marks[String(line.commands)] = line.rss ?? 0
        cpuUs = line.cpuUs ?? 0
      }
      return { startMs: ready.startMs ?? 0, startCpuMs: ready.startCpuMs ?? 0, marks, cpuUs }
    }
  )

const serviceCase = (port: number, dataDir: string) => {
  const child = spawn(process.execPath, [mainTs], {
    env: { ...process.env, PORT: String(port), LOG_LEVEL: "Warn", EVENTLINE_DATA_DIR: dataDir, DATABASE_URL: "" },
    stdio: ["ignore", "pipe", "inherit"]
  })
  const url = `http://127.0.0.1:${port}`
  const started = performance.now()
  const ready = Effect.tryPromise(() => fetch(`${url}/health/ready`)).pipe(
    Effect.filterOrFail((response) => response.status === 200),
    Effect.retry(Schedule.spaced("20 millis").pipe(Schedule.upTo({ duration: "2 minutes" }))),
    Effect.map(() => [performance.now() - started, cpuMsOf(child.pid ?? 0)] as const)
  )
  return Effect.flatMap(ready, ([startMs, startCpuMs]) =>
    measure(child, async () => {
      const orders = arg("orders", 2000)
      const headers = { "content-type": "application/json" }
      let next = 0
      const worker = async () => {
        while (next < orders) {
          const body = { customerId: "c-1", items: [{ productId: `p-${next++ % 50}`, quantity: 1, price: 100 }] }
          const response = await fetch(`${url}/orders`, { method: "POST", headers, body: JSON.stringify(body) })
          const answer = await response.text()
          if (response.status !== 201) throw new Error(`POST /orders: ${response.status} ${answer}`)
        }
      }
      await Promise.all(Array.from({ length: 8 }, worker))
      const cpuUs = ((cpuMsOf(child.pid ?? 0) - startCpuMs) * 1000) / orders
      return { startMs, startCpuMs, marks: {}, cpuUs }
    })
  )
}

const median = (values: ReadonlyArray<number>) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? 0

const parent = Effect.gen(function* () {
  const rows = new Map<string, Array<Result>>()
  const record = (name: string) => (result: Result) =>
    Effect.sync(() => rows.set(name, [...(rows.get(name) ?? []), result]))
  for (let round = 0; round < arg("runs", 3); round++) {
    const dir = mkdtempSync(join(tmpdir(), "eventline-bench-"))
    const serviceDir = mkdtempSync(join(tmpdir(), "eventline-bench-"))
    yield* appCase("floor").pipe(Effect.flatMap(record("floor")))
    yield* appCase("app").pipe(Effect.flatMap(record("app/memory")))
    yield* appCase("app", dir).pipe(Effect.flatMap(record("app/dir fresh")))
    yield* appCase("app", dir).pipe(Effect.flatMap(record("app/dir reused")))
    yield* serviceCase(39_000 + round, "memory").pipe(Effect.flatMap(record("service/memory")))
    yield* serviceCase(39_100 + round, serviceDir).pipe(Effect.flatMap(record("service/dir fresh")))
    yield* serviceCase(39_200 + round, serviceDir).pipe(Effect.flatMap(record("service/dir reused")))
    rmSync(dir, { recursive: true, force: true })
    rmSync(serviceDir, { recursive: true, force: true })
    process.stderr.write(`round ${round + 1} done\n`)
  }
  const floor = rows.get("floor") ?? []
  const floorPeak = median(floor.map((r) => r.peak))
  const floorFinal = median(floor.map((r) => r.final))
  console.log(
    "| case | start-up ms | start-up CPU ms | peak MB (x floor) | final MB (x floor) | RSS MB at start / 10% / 50% / 100% | CPU µs per command |"
  )
  console.log("| --- | --- | --- | --- | --- | --- | --- |")
  const commands = arg("commands", 10_000)
  for (const [name, results] of rows) {
    const med = (of: (result: Result) => number) => median(results.map(of))
    const [peak, final] = [med((r) => r.peak), med((r) => r.final)]
    const curve = ["start", ...[0.1, 0.5, 1].map((f) => String(f * commands))].map((k) =>
      mb(med((r) => r.marks[k] ?? 0))
    )
    const cells = [
      name,
      Math.round(med((r) => r.startMs)),
      Math.round(med((r) => r.startCpuMs)),
      `${mb(peak)} (${(peak / floorPeak).toFixed(2)})`,
      `${mb(final)} (${(final / floorFinal).toFixed(2)})`,
      name.startsWith("app") ? curve.join(" / ") : "",
      name === "floor" ? "" : Math.round(med((r) => r.cpuUs))
    ]
    console.log(`| ${cells.join(" | ")} |`)
  }
})

const main: Effect.Effect<void, unknown> =
  process.argv[2] === "child" ? Effect.scoped(runChild(process.argv[3] ?? "", process.argv[4] || undefined)) : parent
Effect.runPromise(main).catch((error: unknown) => {
  process.stderr.write(`${String(error)}\n`)
  process.exitCode = 1
})
