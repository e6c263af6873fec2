"""The causes and reasons of payments, as the stores, the scheduler and the communicator
write them (``payment_events.cause``, ``payments.reason``), each with its sentence.

Why a module of its own: it is the longest part of the catalogue, and the one a new payment
cause is added to (``tests/unit/portal/test_words.py`` says when one is missing).
"""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

from bbp_portal.words.catalogue import Cause, _c

# Payment causes and reasons, first match wins (the more specific before the general).
PAYMENT_CAUSES: tuple[Cause, ...] = (
    _c("created", r"^payment request created$", _l("Created with its payment request.")),
    _c(
        "created_scheduled",
        r"^payment request created: waits for its due time$",
        _l("Created with its payment request; it waits for its time."),
    ),
    _c(
        "dispatched",
        r"^dispatched \(attempt (?P<n>\d+)\)$",
        _l("Handed to the sender (try %(n)s)."),
    ),
    _c("claimed", r"^claimed for billpay$", _l("Being sent to Mobiquity.")),
    _c(
        "accepted_late",
        r"^billpay accepted \(late answer\)$",
        _l("Mobiquity accepted the payment (its answer came late)."),
    ),
    _c("accepted", r"^billpay accepted$", _l("Mobiquity accepted the payment.")),
    _c(
        "rejected_late",
        r"^billpay rejected \(late answer\)$",
        _l("Mobiquity refused the payment (its answer came late)."),
    ),
    _c("rejected", r"^billpay rejected$", _l("Mobiquity refused the payment.")),
    # the client's reasons for a refusal (``mobiquity_client``: ``Rejected.reason``)
    _c("refused_answer", r"^documented FAILED answer$", _l("Mobiquity refused the payment.")),
    _c(
        "refused_signin",
        r"^HTTP 40[13]: the request was refused before processing",
        _l("Mobiquity refused the payment before processing it: our sign-in was refused."),
    ),
    _c(
        "disagreeing_answer",
        r"^billpay \w+ (of an older attempt|for a payment never claimed|disagrees with"
        r"|for a payment in)",
        _l(
            "An answer that disagrees with where the payment stands arrived: kept for a person to "
            "check."
        ),
    ),
    _c(
        "outdated_report",
        r"(of an older attempt ignored|^duplicate result$|ignored$|for a payment not claimed$"
        r"|^\w+ for a payment in \w+$)",
        _l("A repeated or outdated report arrived; it changed nothing."),
    ),
    _c(
        "no_usable_answer",
        r"^no usable answer to billpay$",
        _l("Mobiquity's answer did not say whether the payment went through: Mobiquity is asked."),
    ),
    _c(
        "sender_gone",
        r"(^sender died mid-call$|^command redelivered while sending$|its sender is gone)",
        _l("The sending stopped during the call: whether Mobiquity got it is asked of Mobiquity."),
    ),
    _c(
        "server_error",
        r"^http_5xx:",
        _l(
            "Mobiquity answered with a server error: the payment may have gone through; Mobiquity "
            "is asked."
        ),
    ),
    _c(
        "connection_broke",
        r"^(read_timeout|connection_lost|ssl|transport|timeout)\b",
        _l(
            "The connection to Mobiquity broke during the call: the payment may have gone "
            "through; Mobiquity is asked."
        ),
    ),
    _c(
        "unclear_answer",
        r"^(bad_body|contradictory|unexpected_status|mismatch|refused|unexpected outcome)\b",
        _l(
            "Mobiquity's answer could not be understood: the payment may have gone through; "
            "Mobiquity is asked."
        ),
    ),
    _c(
        "sender_error",
        r"^client error:",
        _l(
            "Our sender failed during the call: the payment may have gone through; Mobiquity is "
            "asked."
        ),
    ),
    _c(
        "not_sent_late",
        r"^not sent \(its sender's late report\)",
        _l("It was not sent after all (its sender said so late)."),
    ),
    _c(
        "not_sent_wallet",
        r"(the paying wallet was refused meanwhile|the wallet breaker refused the claim)",
        _l("Not sent: payments are stopped since Mobiquity refused the paying wallet's PIN."),
    ),
    _c(
        "not_sent_unreachable",
        r"^not sent \(not sent \((name_resolution|connection_refused|connect_timeout)\)\)"
        r"|^not sent \((name_resolution|connection_refused|connect_timeout)\)",
        _l("Not sent: Mobiquity could not be reached."),
    ),
    _c(
        "not_sent_late_claim",
        r"(command not claimed in time|its claim deadline passed|not claimed by its deadline)",
        _l("Not sent: it waited too long to go out."),
    ),
    _c(
        "not_sent_unpublished",
        r"^command not published",
        _l("Not sent: the message that sends it could not be handed over."),
    ),
    _c(
        "not_sent_sender",
        r"not claimed: ",
        _l("Not sent: the sender could not act on it (it could not sign in to Mobiquity)."),
    ),
    _c("not_sent", r"^not sent\b", _l("It was not sent.")),
    _c(
        "unbuildable",
        r"(could not be built|no billpay could be built)",
        _l("It could not be sent: the biller's payment settings are incomplete."),
    ),
    _c(
        "wallet_pin",
        r"^wallet authentication failed",
        _l(
            "Mobiquity refused the paying wallet's PIN: payments are stopped until a superadmin "
            "closes the wallet breaker."
        ),
    ),
    # enquiries
    _c(
        "enquiry_no_answer",
        r"^enquiry (?P<n>\d+) of (?P<total>\d+): no answer",
        _l("Check %(n)s of %(total)s: Mobiquity has no answer yet."),
    ),
    _c(
        "enquiry_no_answer_n",
        r"^enquiry (?P<n>\d+): no answer",
        _l("Check %(n)s: Mobiquity has no answer yet."),
    ),
    _c("enquiry_succeeded", r"^enquiry: succeeded$", _l("Asked, Mobiquity confirmed the payment.")),
    _c("enquiry_failed", r"^enquiry: failed$", _l("Asked, Mobiquity said the payment failed.")),
    _c(
        "enquiry_pending",
        r"^enquiry: pending at mobiquity$",
        _l("Asked, Mobiquity said it has the payment and is still processing it."),
    ),
    _c(
        "enquiry_not_found",
        r"^enquiry: not found after the grace period",
        _l("Asked, Mobiquity has no record of the payment: it never arrived."),
    ),
    _c(
        "no_final_answer",
        r"^no answer after (?P<n>\d+) enquiries$",
        _l(
            "No final answer from Mobiquity after %(n)s checks: a person checks its reports and "
            "decides."
        ),
    ),
    _c(
        "no_enquiries",
        r"^no enquiries configured$",
        _l("No final answer from Mobiquity, and no checks are configured: a person decides."),
    ),
    _c(
        "enquiry_disagrees",
        r"^enquiry says \w+, payment is \w+$",
        _l("A check's answer disagrees with where the payment stands: kept for a person to check."),
    ),
    _c(
        "enquiry_late",
        r"^enquiry result for a payment no longer ambiguous$",
        _l("A late answer to a check changed nothing."),
    ),
    _c(
        "enquiry_resent",
        r"(expired before it was sent: asked again|enquiry command not published)",
        _l("A check could not go out in time: it is asked again."),
    ),
    _c(
        "check_asked",
        r"^(?P<person>\S+) asked mobiquity once more",
        _l("%(person)s asked Mobiquity once more (not counted among the scheduled checks)."),
    ),
    _c(
        "check_recorded",
        r"^check: mobiquity says (?P<outcome>\w+); recorded",
        _l(
            "Asked once more, Mobiquity says: %(outcome)s. Recorded for the person who resolves it."
        ),
    ),
    _c(
        "check_no_answer",
        r"^check asked by a person: no answer",
        _l("A person's check got no answer; nothing changed."),
    ),
    # people
    _c(
        "resolved_paid",
        r"^resolved by a person: paid$",
        _l("A person checked Mobiquity's reports and recorded it as paid."),
    ),
    _c(
        "resolved_not_paid",
        r"^resolved by a person: not paid$",
        _l("A person checked Mobiquity's reports and recorded it as not paid."),
    ),
    _c(
        "cancelled_with_request",
        r"^request cancelled by (?P<person>\S+)$",
        _l("Cancelled with its request by %(person)s."),
    ),
    _c(
        "rejected_with_request",
        r"^request rejected by (?P<person>\S+)$",
        _l("Its request was rejected by %(person)s."),
    ),
    _c(
        "changed_cancelled",
        r"^(changed amount|amount changed).*cancelled by (?P<person>\S+)$",
        _l("Cancelled by %(person)s after its amount changed."),
    ),
    # scheduled payments
    _c(
        "refetching",
        r"^its time came: its bill is fetched again first \(fetch request #(?P<id>\d+)\)$",
        _l("Its time came: its bill is fetched again first (fetch request #%(id)s)."),
    ),
    _c(
        "refetched_same",
        r"^fetched again before paying: the same amount$",
        _l("Fetched again before paying: the amount has not changed."),
    ),
    _c(
        "refetched_changed",
        r"^amount changed when fetched again before paying: (?P<was>[\d.]+) → (?P<now>[\d.]+)",
        _l(
            "The amount changed when its bill was fetched again before paying (%(was)s → %(now)s "
            "BDT): a person decides."
        ),
    ),
    _c(
        "changed_approved",
        r"^new amount (?P<amount>[\d.]+) BDT approved by (?P<person>\S+):",
        _l(
            "%(person)s approved the new amount of %(amount)s BDT: its bill is fetched again "
            "before paying."
        ),
    ),
    _c(
        "refetched_gone",
        r"^no longer pending when fetched again before paying",
        _l(
            "Left out: the bill was no longer pending when fetched again before paying (paid "
            "elsewhere?)."
        ),
    ),
    _c(
        "refetched_unfetched",
        r"^could not be fetched again before paying",
        _l(
            "Left out: its bill could not be fetched again before paying. Fetch it and pay it "
            "again."
        ),
    ),
    _c(
        "stale_bill",
        r"^bill fetched too long ago to pay now",
        _l("Left out: its bill was fetched too long ago to pay now. Fetch it again."),
    ),
)

#: What ``PaymentStore.never_left`` adds to a cause: where the payment went.
SUFFIXES: tuple[Cause, ...] = (
    _c(
        "queued_again",
        r"; queued again with the same reference id$",
        _l("It goes out again with the same reference id."),
    ),
    _c("request_cancelled", r"; its request was cancelled$", _l("Its request was cancelled.")),
    _c(
        "given_up",
        r"; not sent after (?P<n>\d+) tries$",
        _l("Given up after %(n)s tries: its bill is free to be paid again."),
    ),
)
