/**
 * Finds (or starts) the real services the suites need, once per `vitest run`, and hands their
 * addresses to the test files through `provide`/`inject`.
 *
 * - Kafka: `KAFKA_BROKERS` when set; otherwise the local broker of scripts/kafka when Java and
 *   Maven are installed (started here, stopped at teardown). Set `EVENTLINE_LOCAL_KAFKA=0` to
 *   opt out.
 * - PostgreSQL: `DATABASE_URL` when set; otherwise a server on 127.0.0.1:5432 if one answers.
 * - Schema registry (Confluent API): `SCHEMA_REGISTRY_URL` when set; otherwise the local
 *   Apicurio Registry of scripts/registry (built and started here, stopped at teardown). Set
 *   `EVENTLINE_LOCAL_REGISTRY=0` to opt out.
 */
import { execFileSync, spawnSync } from "node:child_process"
import { connect } from "node:net"
import { fileURLToPath } from "node:url"
import type { TestProject } from "vitest/node"

declare module "vitest" {
  export interface ProvidedContext {
    readonly kafkaBrokers: string | undefined
    readonly databaseUrl: string | undefined
    readonly schemaRegistryUrl: string | undefined
  }
}

const root = fileURLToPath(new URL("..", import.meta.url))

const hasCommand = (command: string): boolean => spawnSync("sh", ["-c", `command -v ${command}`]).status === 0

const portAnswers = (host: string, port: number): Promise<boolean> =>
  new Promise((resolve) => {
    const socket = connect({ host, port })
    const done = (ok: boolean) => {
      socket.destroy()
      resolve(ok)
    }
    socket.setTimeout(1000, () => done(false))
    socket.once("connect", () => done(true))
    socket.once("error", () => done(false))
  })

/**
 * A local JVM service of scripts/<dir>: the one answering on `port` (somebody else's: used, left
 * running), else started here when Java and Maven are installed. `started`: stop it at teardown.
 */
const localService = async (
  dir: string,
  port: string
): Promise<{ readonly found: boolean; readonly started: boolean }> => {
  if (await portAnswers("127.0.0.1", Number(port))) return { found: true, started: false }
  if (!hasCommand("java") || !hasCommand("mvn")) return { found: false, started: false }
  const output = execFileSync("bash", [`scripts/${dir}/start.sh`], {
    cwd: root,
    encoding: "utf8",
    stdio: ["ignore", "pipe", "inherit"]
  })
  process.stdout.write(output)
  // one another run started meanwhile is used, not stopped
  return { found: true, started: !output.includes("already running") }
}

export default async function setup(project: TestProject) {
  let startedKafka = false
  let kafkaBrokers = process.env.KAFKA_BROKERS || undefined
  const kafkaPort = process.env.KAFKA_PORT ?? "9092"
  if (kafkaBrokers === undefined && process.env.EVENTLINE_LOCAL_KAFKA !== "0") {
    const kafka = await localService("kafka", kafkaPort)
    startedKafka = kafka.started
    if (kafka.found) kafkaBrokers = `127.0.0.1:${kafkaPort}`
  }
  let startedRegistry = false
  let schemaRegistryUrl = process.env.SCHEMA_REGISTRY_URL || undefined
  const registryPort = process.env.REGISTRY_PORT ?? "8081"
  if (schemaRegistryUrl === undefined && process.env.EVENTLINE_LOCAL_REGISTRY !== "0") {
    const registry = await localService("registry", registryPort)
    startedRegistry = registry.started
    if (registry.found) schemaRegistryUrl = `http://127.0.0.1:${registryPort}/apis/ccompat/v7`
  }
  let databaseUrl = process.env.DATABASE_URL || undefined
  if (databaseUrl === undefined && (await portAnswers("127.0.0.1", 5432))) {
    databaseUrl = "postgres://postgres@127.0.0.1:5432/postgres"
  }
  project.provide("kafkaBrokers", kafkaBrokers)
  project.provide("databaseUrl", databaseUrl)
  project.provide("schemaRegistryUrl", schemaRegistryUrl)
  return () => {
    if (startedKafka) execFileSync("bash", ["scripts/kafka/stop.sh"], { cwd: root, stdio: "inherit" })
    if (startedRegistry) execFileSync("bash", ["scripts/registry/stop.sh"], { cwd: root, stdio: "inherit" })
  }
}
