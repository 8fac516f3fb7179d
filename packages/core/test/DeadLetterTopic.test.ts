/**
 * The dead-letter conventions every bus shares: the topic name, the headers of a parked
 * message, and the headers a redriven message goes back with.
 */
import { assert, describe, it } from "@effect/vitest"
import { DeadLetterTopic } from "@eventline/core"
import { DateTime } from "effect"

describe("DeadLetterTopic", () => {
  it("names the dead-letter topic and writes where a message came from and why it failed", () => {
    assert.strictEqual(DeadLetterTopic.topicFor("orders"), "orders.dlq")
    assert.deepStrictEqual(
      DeadLetterTopic.headers({
        topic: "orders",
        partition: 2,
        offset: "41",
        groupId: "billing",
        error: "card declined",
        errorType: "PaymentFailed",
        attempts: 5,
        firstFailureAt: DateTime.makeUnsafe("2026-11-27T10:00:00.000Z"),
        deadLetteredAt: DateTime.makeUnsafe("2026-11-27T10:00:01.500Z")
      }),
      {
        "dlq-original-topic": "orders",
        "dlq-original-partition": "2",
        "dlq-original-offset": "41",
        "dlq-consumer-group": "billing",
        "dlq-error": "card declined",
        "dlq-error-type": "PaymentFailed",
        "dlq-attempts": "5",
        "dlq-first-failure-at": "2026-11-27T10:00:00.000Z",
        "dlq-dead-lettered-at": "2026-11-27T10:00:01.500Z"
      }
    )
  })

  it("strips the dlq-* headers on redrive and counts the redrives", () => {
    const once = DeadLetterTopic.redriveHeaders({
      "event-id": "e-1",
      "dlq-original-topic": "orders",
      "dlq-error": "x"
    })
    assert.deepStrictEqual(once, { "event-id": "e-1", "redrive-count": "1" })
    assert.deepStrictEqual(DeadLetterTopic.redriveHeaders({ ...once, "dlq-attempts": "5" }), {
      "event-id": "e-1",
      "redrive-count": "2"
    })
  })
})
