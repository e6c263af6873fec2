"""Child process: consumes a queue; its handler writes a marker file and works "forever".

The parent SIGKILLs it mid-message. Usage: child_consumer.py <amqp_url> <queue> <marker>
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import messaging_support  # noqa: F401 — registers the test schema

from bbp_common.platform.messaging import Consumer, Envelope


def main() -> None:
    amqp_url, queue, marker = sys.argv[1:4]

    def handler(message: Envelope, redelivered: bool) -> None:
        Path(marker).write_text(message.message_id)
        time.sleep(600)

    Consumer(amqp_url, queue, handler, prefetch=1, heartbeat=5).run()


if __name__ == "__main__":
    main()
