"""The platform: what every service stands on, with no business rule in it — settings, the
database engine, clock and schema, logging with the secret masker, health endpoints,
the message envelope and catalogue, RabbitMQ (topology, confirmed publisher, consumer
runner), the transactional outbox and its relay, the inbox.

Nothing here connects at import time, and nothing here imports ``bbp_common.core``.
"""
