"""Wire the communicator from settings: one place, nothing at import time."""

from __future__ import annotations

import threading

from prometheus_client import REGISTRY, CollectorRegistry, Histogram

from bbp_common.core import messages
from bbp_common.platform.db import make_engine, ping
from bbp_common.platform.db.clock import DbClock
from bbp_common.platform.health import HealthServer, Liveness
from bbp_common.platform.logging import configure_logging, get_logger
from bbp_common.platform.messaging import Consumer, Publisher, setup_topology
from bbp_common.platform.mobiquity import make_client, payer_wallet
from bbp_common.platform.runtime import install_stop_signals, run_until_stopped
from bbp_common.platform.settings import load_settings
from bbp_communicator.calls import CallPool
from bbp_communicator.handlers import Communicator, Metrics
from bbp_communicator.notify import Notifier
from bbp_communicator.settings import CommunicatorSettings
from mobiquity_client import RetryPolicy

log = get_logger(__name__)

QUEUES = (
    "communicator.fetch",
    "communicator.pay",
    "communicator.enquiry",
    "communicator.notify",
)


class CommunicatorService:
    """The running communicator: consumers for fetch, pay and enquiry commands."""

    def __init__(
        self, settings: CommunicatorSettings, *, registry: CollectorRegistry | None = None
    ) -> None:
        self.settings = settings
        self.registry = registry or REGISTRY
        messages.register()
        workers = (
            settings.communicator_fetch_workers
            + settings.communicator_pay_workers
            + settings.communicator_enquiry_workers
        )
        # Claims are short transactions made before the HTTP call: far fewer connections
        # than workers suffice, but never fewer than the pay workers' burst needs.
        self.engine = make_engine(
            settings,
            pool_size=max(settings.db_pool_size, settings.communicator_pay_workers // 2),
            max_overflow=max(settings.db_max_overflow, settings.communicator_pay_workers),
        )
        self.call_seconds = Histogram(
            "bbp_mobiquity_call_seconds",
            "Mobiquity call latency by endpoint and outcome",
            ["endpoint", "outcome"],
            registry=self.registry,
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 30),
        )
        self.client = make_client(
            settings,
            retries=RetryPolicy.none(),  # every call is paced and retried by the scheduler
            sender=payer_wallet(settings),
            pool_size=workers,
            on_call=lambda endpoint, outcome, seconds: self.call_seconds.labels(
                endpoint, outcome
            ).observe(seconds),
        )
        self.publisher = Publisher.from_settings(settings, name=f"{settings.communicator_name}-pub")
        self.clock = DbClock(self.engine)
        self.handlers = Communicator(
            engine=self.engine,
            client=self.client,
            publisher=self.publisher,
            name=settings.communicator_name,
            publish_timeout=settings.communicator_result_publish_timeout,
            metrics=Metrics.for_registry(self.registry),
            clock=self.clock,
            send_window=settings.pay_send_window,
            answer_window=settings.mobiquity_connect_timeout + settings.mobiquity_read_timeout,
            token_first=settings.mobiquity_bearer_on_bill_calls,
            # A batch's commands run here, each at its slot: one thread per call in flight.
            calls=CallPool(workers, self.clock, "calls"),
        )
        self.notifier = Notifier(
            engine=self.engine,
            settings=settings,
            report=self.handlers.report,
            registry=self.registry,
        )
        per_queue = {
            "communicator.fetch": (self.handlers.handle_fetch, settings.communicator_fetch_workers),
            "communicator.pay": (self.handlers.handle_pay, settings.communicator_pay_workers),
            "communicator.enquiry": (
                self.handlers.handle_enquiry,
                settings.communicator_enquiry_workers,
            ),
            "communicator.notify": (self.notifier.handle, settings.communicator_notify_workers),
        }
        # prefetch = workers: what a replica holds is what it is working on; the rest waits
        # in the queue, where another replica (or this one, later) can take it.
        self.consumers = [
            Consumer.from_settings(
                settings,
                queue,
                handler,
                prefetch=workers_for_queue,
                workers=workers_for_queue,
                metrics_registry=self.registry,
                name=f"{settings.communicator_name}-{queue}",
            )
            for queue, (handler, workers_for_queue) in per_queue.items()
        ]
        self.liveness = Liveness()
        self.health = HealthServer(
            settings.health_host,
            settings.health_port,
            checks={"database": lambda: ping(self.engine), "broker": self._broker_ready},
            liveness=self.liveness,
            registry=self.registry,
        )
        self.stopping = threading.Event()

    def _broker_ready(self) -> None:
        if not self.publisher.ready or not all(c.consuming for c in self.consumers):
            raise ConnectionError("not connected to RabbitMQ")

    def start(self) -> CommunicatorService:
        setup_topology(self.settings.amqp_url, delivery_limit=self.settings.amqp_delivery_limit)
        self.clock.measure()  # command expiries are judged on the database's clock
        self.publisher.start()
        self.publisher.wait_ready(30)
        for consumer in self.consumers:
            consumer.start()
        self.health.start()
        log.info("communicator_started", name=self.settings.communicator_name)
        return self

    def stop(self) -> None:
        """Stop taking commands, let those in hand finish (or hand them back), close."""
        log.info("communicator_stopping")
        for consumer in self.consumers:
            consumer.stop()
        for consumer in self.consumers:
            consumer.join()
        if self.handlers.calls is not None:
            self.handlers.calls.stop()
        self.publisher.close()
        self.client.close()
        self.engine.dispose()
        self.health.stop()
        log.info("communicator_stopped")

    def run(self) -> None:
        install_stop_signals(self.stopping)
        self.start()
        try:
            run_until_stopped(self.stopping, self.liveness.beat)
        finally:
            self.stop()


def bootstrap(settings: CommunicatorSettings | None = None) -> CommunicatorService:
    settings = settings or load_settings(CommunicatorSettings)
    configure_logging("communicator", settings.log_level, settings.log_format)
    return CommunicatorService(settings)
