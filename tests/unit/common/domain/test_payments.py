from datetime import datetime, timedelta

import pytest

from bbp_common.core.domain.payments import (
    FINAL_STATES,
    TRANSITIONS,
    EnquiryOutcome,
    EnquiryPolicy,
    Failure,
    IllegalTransition,
    PayOutcome,
    ReturnRule,
    check_transition,
    decide_enquiry_result,
    decide_pay_result,
    is_reference_id,
    is_wallet_auth_failure,
    live_bill_key,
    live_key_for,
    never_left_target,
    new_reference_id,
    same_failure_streak,
    sources_of,
)
from bbp_common.core.domain.payments import (
    PaymentState as S,
)

NOW = datetime(2026, 11, 25, 12, 0, 0)


def test_reference_ids_are_20_uppercase_alphanumerics_and_unique():
    refs = {new_reference_id() for _ in range(10_000)}
    assert len(refs) == 10_000
    assert all(is_reference_id(r) for r in refs)
    assert not is_reference_id("abc")
    assert not is_reference_id("a" * 20)


def test_only_the_claim_leads_to_sending():
    assert sources_of(S.SENDING) == {S.DISPATCHED}


def test_a_payment_that_may_have_been_sent_is_never_queued_or_dispatched_again():
    """Only ``sending`` and ``ambiguous`` may go back to the queue — on a proof that it never
    left (its own sender's NotSent for its current attempt); everything after an answer
    never does."""
    for state in (S.POSTED, S.SUCCEEDED, S.UNCLEARED, S.FAILED, S.UNSENT):
        assert S.QUEUED not in TRANSITIONS[state]
        assert S.DISPATCHED not in TRANSITIONS[state]
    assert S.DISPATCHED not in TRANSITIONS[S.AMBIGUOUS]
    # … and a scheduled payment, which never left (it was never dispatched).
    assert sources_of(S.QUEUED) == {S.SCHEDULED, S.DISPATCHED, S.SENDING, S.AMBIGUOUS}
    assert sources_of(S.DISPATCHED) == {S.QUEUED}


def test_an_ambiguous_payment_goes_back_only_on_its_own_senders_not_sent():
    """The sweeper gave up on a sender that was alive: its late "not sent" of the current
    attempt proves the billpay never left. Nothing else takes an ambiguous payment back."""
    back = decide_pay_result(S.AMBIGUOUS, PayOutcome.NOT_SENT)
    assert back.target is S.QUEUED and back.never_left and not back.anomaly
    stale = decide_pay_result(S.AMBIGUOUS, PayOutcome.NOT_SENT, same_attempt=False)
    assert stale.target is None
    for outcome in (PayOutcome.UNKNOWN, PayOutcome.SENDER_DIED, PayOutcome.UNCLAIMED):
        assert decide_pay_result(S.AMBIGUOUS, outcome).target is None


def test_a_scheduled_payment_is_never_dispatched_before_it_is_queued():
    """Only the queue leads to a dispatch: a scheduled payment goes to the queue (its bill
    fetched again and unchanged) or is cancelled, and nothing comes back to ``scheduled``."""
    assert TRANSITIONS[S.SCHEDULED] == {S.QUEUED, S.CANCELLED}
    assert sources_of(S.SCHEDULED) == frozenset()


def test_only_an_answer_or_a_person_fails_a_payment():
    assert sources_of(S.FAILED) == {S.SENDING, S.AMBIGUOUS, S.UNCLEARED}
    assert S.FAILED not in TRANSITIONS[S.DISPATCHED]


def test_final_states_only_move_by_a_person():
    for state in FINAL_STATES - {S.UNCLEARED}:
        assert TRANSITIONS[state] == frozenset()
    with pytest.raises(IllegalTransition):
        check_transition(S.POSTED, S.FAILED)
    with pytest.raises(IllegalTransition):
        check_transition(S.FAILED, S.QUEUED)


def test_only_failed_cancelled_and_unsent_free_the_bill():
    key = live_bill_key("DSCO", "17021270", "012331291314")
    assert key == "DSCO|17021270|012331291314"
    for state in S:
        expected = None if state in (S.FAILED, S.CANCELLED, S.UNSENT) else key
        assert live_key_for(state, key) == expected


@pytest.mark.parametrize(
    ("outcome", "target"),
    [
        (PayOutcome.ACCEPTED, S.POSTED),
        (PayOutcome.REJECTED, S.FAILED),
        (PayOutcome.UNKNOWN, S.AMBIGUOUS),
        (PayOutcome.SENDER_DIED, S.AMBIGUOUS),
    ],
)
def test_billpay_results_move_a_sending_payment(outcome, target):
    decision = decide_pay_result(S.SENDING, outcome)
    assert decision.target is target
    assert not decision.anomaly


def test_not_sent_sends_a_claimed_payment_back_never_fails_it():
    """Our own trouble never fails a payment: "not sent" of the current attempt goes back
    through the return rule (queued, cancelled or unsent), never to failed."""
    decision = decide_pay_result(S.SENDING, PayOutcome.NOT_SENT)
    assert decision.target is S.QUEUED and decision.never_left and not decision.anomaly
    unclaimed = decide_pay_result(S.DISPATCHED, PayOutcome.UNCLAIMED)
    assert unclaimed.target is S.QUEUED and unclaimed.never_left
    assert decide_pay_result(S.SENDING, PayOutcome.UNBUILDABLE).target is S.UNSENT
    for outcome in PayOutcome:
        for current in S:
            assert decide_pay_result(current, outcome).failure in (None, Failure.REJECTED)
            if decide_pay_result(current, outcome).target is S.FAILED:
                assert outcome is PayOutcome.REJECTED


def test_attempts_fence_results():
    """A stale "not sent" of an older attempt changes nothing; a stale definitive answer
    is kept for a person (money moved on another attempt)."""
    for current in S:
        stale = decide_pay_result(current, PayOutcome.NOT_SENT, same_attempt=False)
        assert stale.target is None and not stale.anomaly
        assert decide_pay_result(current, PayOutcome.UNKNOWN, same_attempt=False).target is None
        accepted = decide_pay_result(current, PayOutcome.ACCEPTED, same_attempt=False)
        assert accepted.target is None and accepted.anomaly


def test_the_return_rule_bounds_the_tries_and_respects_a_cancelled_request():
    rule = ReturnRule(max_returns=2)
    target = never_left_target
    assert target(rule, request_cancelled=False, returns_so_far=0, counted=True) is S.QUEUED
    assert target(rule, request_cancelled=False, returns_so_far=1, counted=True) is S.QUEUED
    assert target(rule, request_cancelled=False, returns_so_far=2, counted=True) is S.UNSENT
    assert target(rule, request_cancelled=False, returns_so_far=9, counted=False) is S.QUEUED
    assert target(rule, request_cancelled=True, returns_so_far=0, counted=False) is S.CANCELLED


def test_unknown_never_fails_a_payment():
    """No answer means maybe processed: enquire, never mark failed (which frees the bill)."""
    for current in (S.SENDING, S.AMBIGUOUS):
        assert decide_pay_result(current, PayOutcome.UNKNOWN).target in (S.AMBIGUOUS, None)


def test_a_late_real_answer_settles_an_ambiguous_payment():
    assert decide_pay_result(S.AMBIGUOUS, PayOutcome.ACCEPTED).target is S.POSTED
    assert decide_pay_result(S.AMBIGUOUS, PayOutcome.REJECTED).target is S.FAILED
    assert decide_pay_result(S.AMBIGUOUS, PayOutcome.UNKNOWN).target is None


@pytest.mark.parametrize(
    ("current", "outcome"),
    [
        (S.FAILED, PayOutcome.ACCEPTED),
        (S.SUCCEEDED, PayOutcome.REJECTED),
        (S.CANCELLED, PayOutcome.ACCEPTED),
        (S.QUEUED, PayOutcome.ACCEPTED),
        (S.POSTED, PayOutcome.REJECTED),
    ],
)
def test_a_result_disagreeing_with_a_final_state_is_an_anomaly(current, outcome):
    decision = decide_pay_result(current, outcome)
    assert decision.target is None
    assert decision.anomaly


def test_a_duplicate_agreeing_result_is_quietly_ignored():
    decision = decide_pay_result(S.POSTED, PayOutcome.ACCEPTED)
    assert decision.target is None and not decision.anomaly


def test_wallet_auth_failures_are_recognised():
    assert is_wallet_auth_failure("Authen01", "AUTH03")
    assert is_wallet_auth_failure("Authen01", None)
    assert not is_wallet_auth_failure("TXN01", "INSUFFICIENT_BALANCE")
    assert not is_wallet_auth_failure("Authen01", "AUTH_06")


POLICY = EnquiryPolicy(delays=(60, 300, 900))


def enquiry(
    outcome,
    done=1,
    current=S.AMBIGUOUS,
    policy=POLICY,
    answer_by=NOW - timedelta(minutes=1),
    now=NOW,
):
    return decide_enquiry_result(
        current, outcome, enquiries_done=done, policy=policy, answer_by=answer_by, now=now
    )


def test_enquiry_answers_clear_an_ambiguous_payment():
    assert enquiry(EnquiryOutcome.SUCCEEDED).target is S.SUCCEEDED
    assert enquiry(EnquiryOutcome.FAILED).target is S.FAILED
    assert enquiry(EnquiryOutcome.PENDING).target is S.POSTED


def test_no_answer_waits_for_the_next_enquiry_then_leaves_the_payment_uncleared():
    assert enquiry(EnquiryOutcome.UNKNOWN, done=1).target is None
    assert enquiry(EnquiryOutcome.UNKNOWN, done=2).target is None
    assert enquiry(EnquiryOutcome.UNKNOWN, done=3).target is S.UNCLEARED


def test_not_found_is_no_answer_by_default():
    assert (
        enquiry(EnquiryOutcome.NOT_FOUND, done=1, answer_by=NOW - timedelta(days=1)).target is None
    )
    assert enquiry(EnquiryOutcome.NOT_FOUND, done=3).target is S.UNCLEARED


def test_not_found_is_believed_only_when_configured_and_after_the_answer_deadline_and_grace():
    """The grace counts from ``answer_by_at`` (the claim's send-by + the client's timeouts):
    a billpay can no longer be in flight then, however long its token or its claim took."""
    believing = EnquiryPolicy(delays=(60, 300), believe_not_found=True, not_found_grace=120)
    young = enquiry(
        EnquiryOutcome.NOT_FOUND, policy=believing, answer_by=NOW - timedelta(seconds=60)
    )
    old = enquiry(
        EnquiryOutcome.NOT_FOUND, policy=believing, answer_by=NOW - timedelta(seconds=121)
    )
    unknown = enquiry(EnquiryOutcome.NOT_FOUND, policy=believing, answer_by=None)
    assert young.target is None
    assert old.target is S.FAILED and old.failure is Failure.NOT_FOUND
    assert unknown.target is None  # no claim deadline known: never believed


def test_enquiry_result_disagreeing_with_a_final_state_is_an_anomaly():
    assert enquiry(EnquiryOutcome.SUCCEEDED, current=S.FAILED).anomaly
    assert enquiry(EnquiryOutcome.FAILED, current=S.POSTED).anomaly
    assert not enquiry(EnquiryOutcome.SUCCEEDED, current=S.POSTED).anomaly


@pytest.mark.parametrize(
    ("outcome", "current"),
    [
        # An uncleared payment waits for a person: a definitive answer must reach them, or
        # a "not paid" resolution could pay a bill Mobiquity says is paid.
        (EnquiryOutcome.SUCCEEDED, S.UNCLEARED),
        (EnquiryOutcome.FAILED, S.UNCLEARED),
        (EnquiryOutcome.PENDING, S.UNCLEARED),
        # A failed payment (its bill free again) that Mobiquity calls pending may still move.
        (EnquiryOutcome.PENDING, S.FAILED),
        # Never sent by us, yet known to Mobiquity.
        (EnquiryOutcome.SUCCEEDED, S.CANCELLED),
        (EnquiryOutcome.PENDING, S.QUEUED),
    ],
)
def test_every_definitive_enquiry_answer_that_disagrees_is_kept(outcome, current):
    decision = enquiry(outcome, current=current)
    assert decision.anomaly and decision.target is None


@pytest.mark.parametrize(
    ("outcome", "current"),
    [
        (EnquiryOutcome.SUCCEEDED, S.SUCCEEDED),
        (EnquiryOutcome.PENDING, S.POSTED),
        (EnquiryOutcome.FAILED, S.FAILED),
        (EnquiryOutcome.UNKNOWN, S.UNCLEARED),  # no answer: nothing to disagree with
        (EnquiryOutcome.NOT_FOUND, S.SUCCEEDED),
    ],
)
def test_agreeing_or_empty_enquiry_answers_are_not_anomalies(outcome, current):
    decision = enquiry(outcome, current=current)
    assert not decision.anomaly and decision.target is None


def test_enquiry_schedule():
    assert POLICY.due_at(NOW, 0) == NOW + timedelta(seconds=60)
    assert POLICY.due_at(NOW, 2) == NOW + timedelta(seconds=900)
    assert POLICY.due_at(NOW, 3) is None


def test_failure_streaks():
    same = ("TXN01", "INSUFFICIENT_BALANCE")
    assert same_failure_streak([same, same, same], 3) == same
    assert same_failure_streak([same, same], 3) is None
    assert same_failure_streak([same, ("TXN01", "OTHER"), same], 3) is None
    assert same_failure_streak([same, (None, None), same], 3) is None
    assert same_failure_streak([same, same, same, ("X", "Y")], 3) == same
