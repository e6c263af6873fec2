"""Sealed Mobiquity tokens and the equal timing of failed sign-ins."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet

from bbp_portal.timing import FailureTiming
from bbp_portal.tokens import TokenVault


def test_a_sealed_token_opens_only_with_the_key():
    key = Fernet.generate_key().decode()
    vault = TokenVault(key)
    sealed = vault.seal("eyJhbGciOi.secret.token")
    assert "secret" not in sealed
    assert vault.open(sealed) == "eyJhbGciOi.secret.token"
    assert TokenVault(Fernet.generate_key().decode()).open(sealed) is None
    assert vault.open(sealed[:-4] + "AAAA") is None
    assert vault.open(None) is None


def test_keys_rotate_without_signing_everybody_out():
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    sealed_before = TokenVault(old).seal("tok")
    rotated = TokenVault(f"{new},{old}")
    assert rotated.open(sealed_before) == "tok"
    assert TokenVault(new).open(rotated.seal("tok2")) == "tok2"


@pytest.mark.parametrize("bad", ["", "not-a-key", "a,b"])
def test_a_malformed_key_is_refused_at_start(bad):
    with pytest.raises(ValueError, match="BBP_SESSION_ENCRYPTION_KEY"):
        TokenVault(bad)


def test_vault_repr_hides_keys():
    key = Fernet.generate_key().decode()
    assert key not in repr(TokenVault(key))


class Clock:
    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_failures_are_padded_to_the_floor():
    clock = Clock()
    timing = FailureTiming(1.0, jitter=0, clock=clock, sleep=clock.sleep)
    started = clock()
    clock.now += 0.001  # the registry lookup
    timing.pad(started)
    assert clock.now - started == pytest.approx(1.0)


def test_failures_take_as_long_as_a_typical_mobiquity_refusal():
    clock = Clock()
    timing = FailureTiming(0.2, jitter=0, clock=clock, sleep=clock.sleep)
    for _ in range(20):
        timing.observe(0.7)
    started = clock()
    timing.pad(started)  # an unregistered login id: no Mobiquity call at all
    assert clock.now - started == pytest.approx(0.7, abs=0.01)


def test_a_slow_answer_is_not_delayed_further():
    clock = Clock()
    timing = FailureTiming(0.5, jitter=0, clock=clock, sleep=clock.sleep)
    started = clock()
    clock.now += 2.0
    timing.pad(started)
    assert clock.slept == []
