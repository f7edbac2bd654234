"""Digiledge's acknowledgements ``{reason, code, status}``: the table of what each notification is told.

The domain says what a notification did (``NotificationResult``); this channel says it in Digiledge's words
(docs/channels/digiledge.md publishes the table). The first delivery's acknowledgement is kept with the stored
notification, so its exact repeats are told the same, whatever this table says by then.
"""

from __future__ import annotations

from biller_server.domain.payments.notifications import Acknowledgement, NotificationResult

# The acknowledgement a request gets: ``{reason, code, status}``, the triple a notification keeps for its repeats.
Ack = Acknowledgement

# What a notification is told, by what it did (docs/channels/digiledge.md publishes this table).
NOTIFICATION_ACKS = {
    NotificationResult.CONFIRMED: Ack(200, "ACCEPTED", "Payment confirmed"),
    NotificationResult.FAILED: Ack(200, "ACCEPTED", "Payment marked failed; its amount is owed again"),
    NotificationResult.ALREADY_KNOWN: Ack(208, "DUPLICATE", "The payment already has this status; nothing changed"),
    NotificationResult.UNKNOWN_PAYMENT: Ack(202, "RECORDED", "No payment with this refId; held for reconciliation"),
    NotificationResult.CONTRADICTION: Ack(
        202, "RECORDED", "Contradicts the payment's final status; recorded and flagged"
    ),
    NotificationResult.REF_MISMATCH: Ack(
        202, "RECORDED", "ack.refId names another transaction than refId; held for reconciliation, not applied"
    ),
}


def acknowledge_notification(result: NotificationResult) -> Ack:
    """What a first delivery that did ``result`` is told (a repeat is told what its first delivery was, as stored)."""
    return NOTIFICATION_ACKS[result]
