/**
 * An in-process transport that lets a PostgreSQL wire-protocol client talk to
 * PGlite: the frontend writes bytes, PGlite's backend answers on the readable
 * side. `@effect/sql-pg` plugs it in through its `stream` option.
 *
 * - Frontend bytes are framed into whole messages: startup-style packets (no
 *   tag) until the startup packet, tagged messages after it.
 * - `SSLRequest` and `GSSENCRequest` are refused with `N`; a `CancelRequest`
 *   is ignored and its stream closed, as a server does.
 * - PGlite answers the startup packet itself (AuthenticationOk,
 *   ParameterStatus, BackendKeyData, ReadyForQuery); startup parameters other
 *   than `user`, `database`, `options` and `replication` are applied with
 *   `set_config` first, since PGlite ignores them.
 * - The messages of one write run in one `db.runExclusive` section, and the
 *   write is acknowledged only after PGlite consumed them. The next write waits
 *   while the reader is not keeping up (back-pressure).
 * - PGlite is one backend session. A stream holds it from its startup packet
 *   until it closes; another stream's startup waits until then. Closing
 *   (`Terminate`, end or destroy) does not close the database: it resets the
 *   session as a disconnect would (`ROLLBACK`, `DISCARD ALL`) before the next
 *   stream may start.
 * - Failures surface as stream errors, never as exceptions.
 *
 * @internal
 */

import { Duplex } from "node:stream"
import type { PGlite } from "@electric-sql/pglite"

const SSL_REQUEST_CODE = 80877103
const GSSENC_REQUEST_CODE = 80877104
const CANCEL_REQUEST_CODE = 80877102
const PROTOCOL_MAJOR_VERSION = 3
/** PostgreSQL's MAX_STARTUP_PACKET_LENGTH. */
const MAX_STARTUP_PACKET_LENGTH = 10_000
/** PostgreSQL's MaxAllocSize: no frontend message can be longer. */
const MAX_MESSAGE_LENGTH = 0x3fffffff
const TERMINATE = 0x58
const ERROR_RESPONSE = 0x45
const REFUSE_ENCRYPTION = Buffer.from("N")
const SYNC = Buffer.from([0x53, 0, 0, 0, 4])
const EMPTY = Buffer.alloc(0)
/** Startup parameters that are not settings, or that PGlite fixes (encoding is UTF8). */
const NOT_SETTINGS = new Set(["user", "database", "options", "replication", "client_encoding"])

type Frame =
  | { readonly _tag: "Startup"; readonly bytes: Buffer; readonly parameters: ReadonlyArray<readonly [string, string]> }
  | { readonly _tag: "EncryptionRequest" }
  | { readonly _tag: "CancelRequest" }
  | { readonly _tag: "Message"; readonly bytes: Buffer }
  | { readonly _tag: "Terminate" }

const protocolError = (message: string): Error => new Error(`pgliteStream: ${message}`)

const asError = (cause: unknown): Error =>
  cause instanceof Error ? cause : new Error(`pgliteStream: ${String(cause)}`, { cause })

/** A simple `Query` message. */
const queryMessage = (sql: string): Buffer => {
  const text = Buffer.from(sql, "utf8")
  const message = Buffer.alloc(text.length + 6)
  message[0] = 0x51
  message.writeInt32BE(text.length + 5, 1)
  text.copy(message, 5)
  return message
}

const RESET_SESSION = [SYNC, queryMessage("ROLLBACK"), queryMessage("DISCARD ALL")]

const quoteLiteral = (value: string): string => `'${value.replaceAll("'", "''")}'`

/** The first `ErrorResponse` in a run of backend messages, if any. */
const findErrorResponse = (output: Buffer): Buffer | undefined => {
  let offset = 0
  while (offset + 5 <= output.length) {
    const length = output.readInt32BE(offset + 1)
    if (length < 4) return undefined
    const end = offset + 1 + length
    if (output[offset] === ERROR_RESPONSE) return output.subarray(offset, end)
    offset = end
  }
  return undefined
}

const parseStartupParameters = (packet: Buffer): ReadonlyArray<readonly [string, string]> => {
  const fields: Array<string> = []
  let offset = 8
  while (offset < packet.length) {
    const end = packet.indexOf(0, offset)
    if (end === -1) throw protocolError("unterminated startup parameter")
    if (end === offset) break
    fields.push(packet.toString("utf8", offset, end))
    offset = end + 1
  }
  if (fields.length % 2 !== 0) throw protocolError("startup parameter without a value")
  const parameters: Array<readonly [string, string]> = []
  for (let index = 0; index < fields.length; index += 2) {
    parameters.push([fields[index] ?? "", fields[index + 1] ?? ""])
  }
  return parameters
}

/**
 * Who holds each database's session. Startups queue on the tail; a stream
 * releases its turn after resetting the session.
 */
const sessionTails = new WeakMap<PGlite, Promise<void>>()

interface SessionTurn {
  /** Resolves when every earlier holder has released the session. */
  readonly ready: Promise<void>
  readonly release: () => void
}

const takeSessionTurn = (db: PGlite): SessionTurn => {
  const previous = sessionTails.get(db) ?? Promise.resolve()
  let release = (): void => {}
  const released = new Promise<void>((resolve) => {
    release = resolve
  })
  sessionTails.set(
    db,
    previous.then(() => released)
  )
  return { ready: previous, release }
}

/** Puts the session back the way a fresh connection finds it. Never fails. */
const resetSession = async (db: PGlite): Promise<void> => {
  try {
    if (db.closed) return
    await db.runExclusive(async () => {
      for (const message of RESET_SESSION) {
        if (db.closed) return
        await db.execProtocolRawStream(message, { syncToFs: false, onRawData: () => {} })
      }
    })
  } catch {
    // The database is closing or closed: there is no session left to reset.
  }
}

class PgliteStream extends Duplex {
  private readonly db: PGlite
  /** Bytes received but not yet framed into a whole message. */
  private input: Buffer = EMPTY
  private phase: "startup" | "session" | "closed" = "startup"
  /** The session turn, held from the startup packet until the reset after close. */
  private turn: SessionTurn | undefined
  /** The write being processed; the reset after close waits for it. */
  private inflight: Promise<void> = Promise.resolve()
  /** Whether to destroy the stream once the current write is acknowledged. */
  private closeAfterWrite = false
  private readerBehind = false
  private resumeWriter: (() => void) | undefined

  constructor(db: PGlite) {
    super()
    this.db = db
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    const work = this.receive(chunk)
    this.inflight = work.then(
      () => undefined,
      () => undefined
    )
    work.then(
      () => {
        callback()
        if (this.closeAfterWrite) this.destroy()
      },
      (cause: unknown) => callback(asError(cause))
    )
  }

  override _read(): void {
    this.readerBehind = false
    const resume = this.resumeWriter
    this.resumeWriter = undefined
    resume?.()
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.closeSession()
    callback()
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.closeSession()
    this.readerBehind = false
    const resume = this.resumeWriter
    this.resumeWriter = undefined
    resume?.()
    callback(error)
  }

  private get open(): boolean {
    return this.phase !== "closed" && !this.destroyed
  }

  private async receive(chunk: Buffer): Promise<void> {
    if (!this.open) return
    this.input = this.input.length === 0 ? chunk : Buffer.concat([this.input, chunk])
    let batch: Array<Buffer> = []
    while (this.open) {
      const frame = this.nextFrame()
      if (frame === undefined) break
      if (frame._tag === "Message") {
        batch.push(frame.bytes)
        continue
      }
      await this.execute(batch)
      batch = []
      if (!this.open) break
      switch (frame._tag) {
        case "Startup":
          await this.startup(frame.bytes, frame.parameters)
          break
        case "EncryptionRequest":
          this.pushOutput(REFUSE_ENCRYPTION)
          break
        case "CancelRequest":
          // PGlite runs one statement at a time to completion; there is nothing to cancel.
          this.closeAfterWrite = true
          this.closeSession()
          break
        case "Terminate":
          this.closeAfterWrite = true
          this.closeSession()
          break
      }
    }
    await this.execute(batch)
    // Keep no reference into the writer's buffer past the acknowledgement.
    this.input = this.input.length === 0 ? EMPTY : Buffer.from(this.input)
  }

  private nextFrame(): Frame | undefined {
    const input = this.input
    if (this.phase === "startup") {
      if (input.length < 8) return undefined
      const length = input.readInt32BE(0)
      if (length < 8 || length > MAX_STARTUP_PACKET_LENGTH) {
        throw protocolError(`invalid startup packet length ${length}`)
      }
      if (input.length < length) return undefined
      const bytes = input.subarray(0, length)
      this.input = input.subarray(length)
      const code = bytes.readInt32BE(4)
      if (code === SSL_REQUEST_CODE || code === GSSENC_REQUEST_CODE) return { _tag: "EncryptionRequest" }
      if (code === CANCEL_REQUEST_CODE) return { _tag: "CancelRequest" }
      if (code >>> 16 !== PROTOCOL_MAJOR_VERSION) {
        throw protocolError(`unsupported frontend protocol ${code >>> 16}.${code & 0xffff}`)
      }
      return { _tag: "Startup", bytes, parameters: parseStartupParameters(bytes) }
    }
    if (input.length < 5) return undefined
    const length = input.readInt32BE(1)
    if (length < 4 || length > MAX_MESSAGE_LENGTH) {
      throw protocolError(`invalid length ${length} for message '${String.fromCharCode(input[0] ?? 0)}'`)
    }
    if (input.length < length + 1) return undefined
    const bytes = input.subarray(0, length + 1)
    this.input = input.subarray(length + 1)
    return bytes[0] === TERMINATE ? { _tag: "Terminate" } : { _tag: "Message", bytes }
  }

  private async startup(packet: Buffer, parameters: ReadonlyArray<readonly [string, string]>): Promise<void> {
    const turn = takeSessionTurn(this.db)
    this.turn = turn
    await turn.ready
    if (!this.open) return
    const settings = parameters.filter(([name]) => !NOT_SETTINGS.has(name))
    const output = await this.db.runExclusive(async () => {
      if (settings.length > 0) {
        const select = settings.map(
          ([name, value]) => `set_config(${quoteLiteral(name)}, ${quoteLiteral(value)}, false)`
        )
        const error = findErrorResponse(await this.run([queryMessage(`SELECT ${select.join(", ")}`)]))
        // A server refuses the connection when a startup setting is invalid.
        if (error !== undefined) return error
      }
      return this.run([packet])
    })
    if (!this.open) return
    this.phase = "session"
    this.pushOutput(output)
    if (output[0] === ERROR_RESPONSE) {
      this.closeAfterWrite = true
      this.closeSession()
    }
  }

  /** Feeds messages to PGlite in one exclusive section and forwards its answer. */
  private async execute(messages: ReadonlyArray<Buffer>): Promise<void> {
    if (messages.length === 0) return
    await this.readerCaughtUp()
    if (!this.open) return
    const output = await this.db.runExclusive(() => this.run(messages))
    if (this.open) this.pushOutput(output)
  }

  /** Runs messages on the backend; call it inside `db.runExclusive`. */
  private async run(messages: ReadonlyArray<Buffer>): Promise<Buffer> {
    const chunks: Array<Buffer> = []
    // PGlite hands out views of its own memory: copy them before it runs on.
    const onRawData = (data: Uint8Array): void => {
      chunks.push(Buffer.from(data))
    }
    const input = messages.length === 1 ? (messages[0] ?? EMPTY) : Buffer.concat(messages)
    await this.db.execProtocolRawStream(input, { onRawData })
    return chunks.length === 1 ? (chunks[0] ?? EMPTY) : Buffer.concat(chunks)
  }

  private pushOutput(chunk: Buffer): void {
    if (chunk.length > 0 && !this.push(chunk)) this.readerBehind = true
  }

  private readerCaughtUp(): Promise<void> {
    if (!this.readerBehind) return Promise.resolve()
    return new Promise((resolve) => {
      this.resumeWriter = resolve
    })
  }

  /** Stops taking input, ends the readable side and hands the session back after resetting it. */
  private closeSession(): void {
    if (this.phase === "closed") return
    this.phase = "closed"
    if (!this.destroyed) this.push(null)
    const turn = this.turn
    this.turn = undefined
    if (turn === undefined) return
    void this.inflight
      .then(() => turn.ready)
      .then(() => resetSession(this.db))
      .finally(turn.release)
  }
}

/**
 * A Duplex that speaks the PostgreSQL frontend/backend protocol to `db`, for
 * `PgClient`'s `stream` option. PGlite is one backend session: use one stream at
 * a time (a second stream's startup waits until the first closes).
 *
 * @internal
 */
export const pgliteStream = (db: PGlite): Duplex => new PgliteStream(db)
