"""Child process: one relay round that dies (os._exit) after the broker confirmed the batch
and before the rows are marked sent. Usage: child_relay.py <database_url> <amqp_url>
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

import messaging_support  # noqa: F401 — registers the test schema
from pydantic import SecretStr

from bbp_common.platform.db import make_engine
from bbp_common.platform.messaging import Publisher
from bbp_common.platform.relay import OutboxRelay
from bbp_common.platform.settings import DatabaseSettings

DIED = 17


def main() -> None:
    database_url, amqp_url = sys.argv[1:3]
    engine = make_engine(DatabaseSettings(database_url=SecretStr(database_url)))
    publisher = Publisher(amqp_url, confirm_timeout=5).start()
    if not publisher.wait_ready(10):
        sys.exit(2)

    def die(message_ids: Sequence[str]) -> None:
        print("published", *message_ids, flush=True)
        os._exit(DIED)  # no rollback, no close: as if the pod were killed

    OutboxRelay(engine, publisher, batch_size=50, after_publish=die).relay_once()
    sys.exit(3)  # nothing was claimed


if __name__ == "__main__":
    main()
