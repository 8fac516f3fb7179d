/**
 * A Server-Sent Events client for the tests: it records every message as it arrives, and can be
 * left unread (a slow client) and read later.
 */
import { Effect, Schedule } from "effect"

export interface SseMessage {
  readonly id: string | undefined
  readonly data: string
}

export interface SseClient {
  /** The messages received so far, in order. */
  readonly messages: Array<SseMessage>
  /** The comment lines received so far (keep-alives). */
  readonly comments: () => number
  /** Whether the server ended the response. */
  readonly ended: () => boolean
  /** Start (or resume) reading the body. */
  readonly read: () => void
}

/** Parse complete SSE messages out of `buffer`; returns the rest. */
const parse = (buffer: string, into: Array<SseMessage>, onComment: () => void): string => {
  let rest = buffer
  let end = rest.indexOf("\n\n")
  while (end !== -1) {
    const block = rest.slice(0, end)
    rest = rest.slice(end + 2)
    let id: string | undefined
    const data: Array<string> = []
    for (const line of block.split("\n")) {
      if (line.startsWith(":")) onComment()
      else if (line.startsWith("id:")) id = line.slice(3).trim()
      else if (line.startsWith("data:")) data.push(line.slice(5).trimStart())
    }
    if (data.length > 0) into.push({ id, data: data.join("\n") })
    end = rest.indexOf("\n\n")
  }
  return rest
}

/**
 * Open an SSE response (aborted when the scope closes). With `paused`, nothing is read until
 * `read()` is called: the server sees a client that does not keep up.
 */
export const connect = (
  url: string,
  options?: { readonly headers?: Record<string, string>; readonly paused?: boolean }
) =>
  Effect.gen(function* () {
    const controller = new AbortController()
    yield* Effect.addFinalizer(() => Effect.sync(() => controller.abort()))
    const response = yield* Effect.promise(() =>
      fetch(url, { headers: { accept: "text/event-stream", ...options?.headers }, signal: controller.signal })
    )
    if (response.status !== 200 || response.body === null) {
      return yield* Effect.die(
        new Error(`SSE answered ${response.status}: ${yield* Effect.promise(() => response.text())}`)
      )
    }
    const reader = response.body.getReader()
    const messages: Array<SseMessage> = []
    let ended = false
    let reading = false
    let comments = 0
    const onComment = () => {
      comments++
    }
    const read = () => {
      if (reading) return
      reading = true
      const decoder = new TextDecoder()
      let buffer = ""
      const loop = async () => {
        while (true) {
          const chunk = await reader.read()
          if (chunk.done) break
          buffer = parse(buffer + decoder.decode(chunk.value, { stream: true }), messages, onComment)
        }
        ended = true
      }
      loop().catch(() => {
        ended = true
      })
    }
    if (options?.paused !== true) read()
    return { messages, comments: () => comments, ended: () => ended, read } satisfies SseClient
  })

/** Wait until `condition` holds (checked every 20 ms; the test's own timeout bounds it). */
export const until = (condition: () => boolean) =>
  Effect.sync(condition).pipe(
    Effect.repeat({ until: (holds) => holds, schedule: Schedule.spaced("20 millis") }),
    Effect.asVoid
  )
