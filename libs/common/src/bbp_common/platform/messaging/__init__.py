"""RabbitMQ plumbing: envelope and schemas, topology, confirmed publisher, consumer runner.

``docs/messages.md`` is the contract (exchanges, queues, routing keys, schemas); this package
is how the services speak it. Nothing here connects at import time.
"""

from bbp_common.platform.envelope import (
    DEAD_LETTER_EXCHANGE,
    EXCHANGE,
    Envelope,
    InvalidMessage,
    MessageRegistry,
    build,
    decode,
    default_registry,
    message_schema,
)
from bbp_common.platform.messaging.backoff import Backoff, backoff_delay
from bbp_common.platform.messaging.consumer import (
    Consumer,
    ConsumerMetrics,
    Handler,
    Reject,
    Retry,
    delivery_count,
)
from bbp_common.platform.messaging.publisher import (
    BatchPublisher,
    Outgoing,
    Publisher,
    PublishFailed,
)
from bbp_common.platform.messaging.topology import (
    QUEUES,
    QueueSpec,
    TopologyMismatch,
    declare_topology,
    queue_spec,
    setup_topology,
)

__all__ = [
    "DEAD_LETTER_EXCHANGE",
    "EXCHANGE",
    "QUEUES",
    "Backoff",
    "BatchPublisher",
    "Consumer",
    "ConsumerMetrics",
    "Envelope",
    "Handler",
    "InvalidMessage",
    "MessageRegistry",
    "Outgoing",
    "PublishFailed",
    "Publisher",
    "QueueSpec",
    "Reject",
    "Retry",
    "TopologyMismatch",
    "backoff_delay",
    "build",
    "declare_topology",
    "decode",
    "default_registry",
    "delivery_count",
    "message_schema",
    "queue_spec",
    "setup_topology",
]
