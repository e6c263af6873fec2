"""The communicator's SMTP client against the SMTP sink with TLS and a login: STARTTLS and
implicit TLS, the server's certificate checked against BBP_SMTP_CA_FILE, the login sent only
inside TLS; a wrong password or an untrusted certificate is a transient failure (the message
is kept for later), never a crash."""

from __future__ import annotations

import datetime as dt
import ipaddress
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from bbp_communicator.notify import SmtpSender, Transient
from bbp_communicator.notify_settings import NotifySenderSettings
from sandbox.testing import RunningSinks, run_sinks


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("tls")
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def _sinks(certificate: tuple[Path, Path], implicit: bool) -> Iterator[RunningSinks]:
    cert, key = certificate
    env = {
        "SANDBOX_SMTP_TLS_CERT": str(cert),
        "SANDBOX_SMTP_TLS_KEY": str(key),
        "SANDBOX_SMTP_USER": "bbp-mailer",
        "SANDBOX_SMTP_PASSWORD": "mail-Secret-1",
        "SANDBOX_SMTP_IMPLICIT_TLS": "1" if implicit else "0",
    }
    with run_sinks(env=env) as sinks:
        yield sinks


@pytest.fixture(scope="module")
def starttls_sinks(certificate: tuple[Path, Path]) -> Iterator[RunningSinks]:
    yield from _sinks(certificate, implicit=False)


def message(to: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = "BBP <no-reply@bbp.example>"
    msg["To"] = to
    msg["Subject"] = "TLS check"
    msg.set_content("hello")
    return msg


def settings(sinks: RunningSinks, ca: Path | str, **overrides: object) -> NotifySenderSettings:
    values: dict[str, object] = {
        "smtp_host": "127.0.0.1",
        "smtp_port": sinks.smtp_port,
        "smtp_security": "starttls",
        "smtp_username": "bbp-mailer",
        "smtp_password": "mail-Secret-1",
        "smtp_ca_file": str(ca),
        "smtp_timeout": 5,
    }
    values.update(overrides)
    return NotifySenderSettings(**values)


def test_starttls_with_login(starttls_sinks: RunningSinks, certificate) -> None:
    SmtpSender(settings(starttls_sinks, certificate[0])).send(message("tls@bbp.example"))
    (kept,) = starttls_sinks.mails(to="tls@bbp.example")
    assert kept["authenticated"] is True and kept["subject"] == "TLS check"


def test_wrong_password_and_untrusted_certificate_are_transient(
    starttls_sinks: RunningSinks, certificate
) -> None:
    with pytest.raises(Transient) as caught:
        SmtpSender(settings(starttls_sinks, certificate[0], smtp_password="wrong")).send(
            message("nope@bbp.example")
        )
    assert "wrong" not in str(caught.value) and "mail-Secret-1" not in str(caught.value)
    with pytest.raises(Transient, match="TLS"):
        SmtpSender(settings(starttls_sinks, "")).send(message("nope@bbp.example"))
    assert starttls_sinks.mails(to="nope@") == []


def test_implicit_tls(certificate) -> None:
    for sinks in _sinks(certificate, implicit=True):
        SmtpSender(settings(sinks, certificate[0], smtp_security="tls")).send(
            message("implicit@bbp.example")
        )
        assert len(sinks.mails(to="implicit@bbp.example")) == 1
