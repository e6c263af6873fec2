"""Connection parameters: credentials never reach a log line."""

from __future__ import annotations

from pydantic import SecretStr

from bbp_common.platform.messaging.connection import amqp_parameters, describe_url


def test_describe_url_drops_the_credentials() -> None:
    url = "amqp://bbp:s3cret-pass@rabbit.internal:5673/bbp%2Fprod"
    assert describe_url(url) == "amqp://rabbit.internal:5673/bbp/prod"
    assert "s3cret" not in describe_url(SecretStr(url))
    assert describe_url("amqps://u:p@h/") == "amqps://h:5671//"


def test_parameters_take_heartbeat_and_name_and_leave_retries_to_us() -> None:
    params = amqp_parameters(
        SecretStr("amqp://u:p@h:5672/v"), heartbeat=7.4, connection_name="bbp-scheduler"
    )
    assert (params.host, params.port, params.virtual_host) == ("h", 5672, "v")
    assert params.heartbeat == 7
    assert params.connection_attempts == 1
    assert params.client_properties == {"connection_name": "bbp-scheduler"}
