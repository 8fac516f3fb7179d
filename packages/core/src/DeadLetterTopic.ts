/**
 * Dead-letter topics of an `EventBus`: where a message goes when its handler keeps failing,
 * what it carries there, and how redrive brings it back. Every bus follows these conventions
 * (the in-process bus and Kafka alike), so tools that read a dead-letter topic work on either.
 *
 * A message is parked in `<topic>.dlq` with its key, value and headers unchanged, plus the
 * `dlq-*` headers of `Headers` (where it came from, which group gave up on it, why, after how
 * many attempts, since when). Redrive strips the `dlq-*` headers again and counts the redrives
 * in `redrive-count`.
 *
 * @since 0.2.0
 */
import { DateTime } from "effect"

/**
 * The headers of a parked message.
 *
 * @category constants
 * @since 0.2.0
 */
export const Headers = {
  /** The topic the message was read from: where redrive sends it back. */
  originalTopic: "dlq-original-topic",
  originalPartition: "dlq-original-partition",
  originalOffset: "dlq-original-offset",
  /** The consumer group whose handler gave up. */
  consumerGroup: "dlq-consumer-group",
  /** The last failure's message. */
  error: "dlq-error",
  /** The last failure's tag or class (`UndecodableMessage` for a poison message). */
  errorType: "dlq-error-type",
  /** How many times the handler ran (1 for a message that could not be decoded). */
  attempts: "dlq-attempts",
  /** When the first attempt failed (ISO-8601). */
  firstFailureAt: "dlq-first-failure-at",
  /** When the message was parked (ISO-8601). */
  deadLetteredAt: "dlq-dead-lettered-at",
  /** How many times the message was redriven (set by redrive). */
  redriveCount: "redrive-count"
} as const

/**
 * The dead-letter topic of a topic: `<topic>.dlq`.
 *
 * @category constructors
 * @since 0.2.0
 */
export const topicFor = (topic: string): string => `${topic}.dlq`

/**
 * Why and from where a message is parked.
 *
 * @category models
 * @since 0.2.0
 */
export interface Parking {
  readonly topic: string
  readonly partition: number
  readonly offset: string
  readonly groupId: string
  readonly error: string
  readonly errorType: string
  readonly attempts: number
  readonly firstFailureAt: DateTime.Utc
  readonly deadLetteredAt: DateTime.Utc
}

/**
 * The `dlq-*` headers of a parked message.
 *
 * @category constructors
 * @since 0.2.0
 */
export const headers = (parking: Parking): Record<string, string> => ({
  [Headers.originalTopic]: parking.topic,
  [Headers.originalPartition]: String(parking.partition),
  [Headers.originalOffset]: parking.offset,
  [Headers.consumerGroup]: parking.groupId,
  [Headers.error]: parking.error,
  [Headers.errorType]: parking.errorType,
  [Headers.attempts]: String(parking.attempts),
  [Headers.firstFailureAt]: DateTime.formatIso(parking.firstFailureAt),
  [Headers.deadLetteredAt]: DateTime.formatIso(parking.deadLetteredAt)
})

/**
 * Whether a header is one that parking adds (and redrive removes).
 *
 * @category predicates
 * @since 0.2.0
 */
export const isDeadLetterHeader = (name: string): boolean => name.startsWith("dlq-")

/**
 * The next `redrive-count` of a message with these headers: one more than the current one.
 *
 * @category constructors
 * @since 0.2.0
 */
export const nextRedriveCount = (current: string | undefined): string => {
  const previous = Number(current ?? "0")
  return String((Number.isFinite(previous) ? previous : 0) + 1)
}

/**
 * The headers a redriven message goes back with: the original ones, without `dlq-*`, and
 * `redrive-count` one higher.
 *
 * @category constructors
 * @since 0.2.0
 */
export const redriveHeaders = (headers: Readonly<Record<string, string>>): Record<string, string> => {
  const kept: Record<string, string> = {}
  for (const [name, value] of Object.entries(headers)) {
    if (!isDeadLetterHeader(name) && name !== Headers.redriveCount) kept[name] = value
  }
  kept[Headers.redriveCount] = nextRedriveCount(headers[Headers.redriveCount])
  return kept
}
