/**
 * The real entry point (`packages/orders/src/main.ts`) in a child process, for the tests that
 * signal, kill or restart it. Sources are run as `npm start` runs them (.npmrc's node-options is
 * not passed on to a spawned node, so the condition is given here).
 */
import { type ChildProcess, spawn } from "node:child_process"
import { fileURLToPath } from "node:url"
import { type Duration, Effect, Schedule } from "effect"

const root = fileURLToPath(new URL("../../..", import.meta.url))

export interface Child {
  readonly child: ChildProcess
  readonly output: ReadonlyArray<string>
}

export interface Service extends Child {
  readonly url: string
}

/** Spawn main.ts on a free port of 127.0.0.1 with `env` added; killed if still running at the end. */
export const spawnService = (env: Readonly<Record<string, string>>) =>
  Effect.gen(function* () {
    const output: Array<string> = []
    const child = yield* Effect.acquireRelease(
      Effect.sync(() =>
        spawn(process.execPath, ["--conditions=@eventline/source", "packages/orders/src/main.ts"], {
          cwd: root,
          env: { PATH: process.env.PATH ?? "", PORT: "0", HOST: "127.0.0.1", LOG_FORMAT: "json", ...env },
          stdio: ["ignore", "pipe", "pipe"]
        })
      ),
      (child) => Effect.sync(() => child.exitCode === null && child.kill("SIGKILL"))
    )
    child.stdout?.on("data", (chunk) => output.push(String(chunk)))
    child.stderr?.on("data", (chunk) => output.push(String(chunk)))
    return { child, output } satisfies Child
  })

/** Spawn main.ts and wait until it listens (dies with its output if it exits or does not start). */
export const startService = (env: Readonly<Record<string, string>>, startTimeout: Duration.Input = "90 seconds") =>
  Effect.gen(function* () {
    const { child, output } = yield* spawnService(env)
    const port = yield* Effect.suspend(() =>
      child.exitCode === null
        ? Effect.succeed(/listening on http:\/\/localhost:(\d+)/.exec(output.join(""))?.[1])
        : Effect.die(new Error(`the service exited with ${child.exitCode}:\n${output.join("")}`))
    ).pipe(
      Effect.repeat({ until: (found) => found !== undefined, schedule: Schedule.spaced("100 millis") }),
      Effect.timeoutOrElse({
        duration: startTimeout,
        orElse: () => Effect.die(new Error(`the service did not start:\n${output.join("")}`))
      })
    )
    return { child, output, url: `http://127.0.0.1:${port}` } satisfies Service
  })

/** The exit code once the process has exited (null when a signal ended it). */
export const exitCode = (child: ChildProcess) =>
  Effect.callback<number | null>((resume) => {
    if (child.exitCode !== null || child.signalCode !== null) return resume(Effect.succeed(child.exitCode))
    child.once("exit", (code) => resume(Effect.succeed(code)))
  })
