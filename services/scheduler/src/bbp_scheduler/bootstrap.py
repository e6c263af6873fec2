"""Wire the scheduler from settings, and run it: standby until it holds the lease.

While it leads, a *term* runs: the dispatcher, the sweeper and the outbox relay in threads
of their own, and the consumers of results and request events. Losing the lease (renewal
failed, or any write found it gone) ends the term: threads stop, consumers hand their
messages back, and the replica goes back to standby.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from prometheus_client import REGISTRY, CollectorRegistry, Gauge

from bbp_common.core import messages
from bbp_common.platform.db import make_engine, ping
from bbp_common.platform.health import HealthServer, Liveness
from bbp_common.platform.logging import configure_logging, get_logger
from bbp_common.platform.messaging import Consumer, Envelope, Publisher, setup_topology
from bbp_common.platform.relay import OutboxRelay
from bbp_common.platform.runtime import install_stop_signals
from bbp_common.platform.settings import load_settings
from bbp_scheduler import notifications
from bbp_scheduler.db import LeaderDb
from bbp_scheduler.dispatcher import Dispatcher, DispatcherMetrics
from bbp_scheduler.lease import Lease, LostLease
from bbp_scheduler.results import Results
from bbp_scheduler.settings import SchedulerSettings
from bbp_scheduler.sweeper import Sweeper

log = get_logger(__name__)


class Term:
    """What runs while this replica leads; stopped as a whole when leadership ends."""

    def __init__(self, service: SchedulerService) -> None:
        self.service = service
        self.stop = threading.Event()
        self.threads: list[threading.Thread] = []
        self.consumers: list[Consumer] = []

    def start(self) -> None:
        s = self.service
        s.dispatcher.begin_term()
        self._thread("dispatcher", lambda: s.dispatcher.run(self.stop))
        self._thread("sweeper", self._sweep_loop)
        self._thread("outbox-relay", lambda: s.relay.run(self.stop))
        self.consumers = [
            Consumer.from_settings(
                s.settings,
                "scheduler.results",
                s.results.handle,
                # The workers only wait for the batch applier: as many as the prefetch, so a
                # batch can hold everything the broker handed over.
                prefetch=s.settings.scheduler_result_workers,
                workers=s.settings.scheduler_result_workers,
                metrics_registry=s.registry,
                name=f"{s.settings.scheduler_id}-results",
            ),
            Consumer.from_settings(
                s.settings,
                "scheduler.requests",
                s.on_request_event,
                prefetch=16,
                workers=1,
                metrics_registry=s.registry,
                name=f"{s.settings.scheduler_id}-requests",
            ),
        ]
        for consumer in self.consumers:
            consumer.start()

    def _thread(self, name: str, target: Callable[[], None]) -> None:
        def guarded() -> None:
            try:
                target()
            except LostLease:
                log.warning("term_lost_lease", thread=name)
                self.service.leadership_lost.set()
            except Exception:
                log.exception("term_thread_failed", thread=name)
                self.service.leadership_lost.set()

        thread = threading.Thread(target=guarded, name=name, daemon=True)
        thread.start()
        self.threads.append(thread)

    def _sweep_loop(self) -> None:
        s = self.service
        while not self.stop.is_set():
            s.sweeper.sweep()
            self.stop.wait(s.settings.sweep_interval)

    def end(self) -> None:
        self.stop.set()
        self.service.dispatcher.wake.set()
        for consumer in self.consumers:
            consumer.stop()
        for consumer in self.consumers:
            consumer.join(60)
        self.service.results.batcher.stop()
        for thread in self.threads:
            thread.join(30)


class SchedulerService:
    def __init__(
        self, settings: SchedulerSettings, *, registry: CollectorRegistry | None = None
    ) -> None:
        self.settings = settings
        self.registry = registry or REGISTRY
        messages.register()
        notifications.configure(settings)
        self.engine = make_engine(
            settings,
            pool_size=max(settings.db_pool_size, 8),
            lock_wait_timeout=5,
        )
        self.lease = Lease(self.engine, settings.scheduler_id, settings.lease_ttl)
        self.db = LeaderDb(self.engine, self.lease)
        self.publisher = Publisher.from_settings(settings, name=f"{settings.scheduler_id}-pub")
        self.dispatcher = Dispatcher(
            self.db, self.publisher, settings, DispatcherMetrics.create(self.registry)
        )
        self.results = Results(
            self.db, settings, self.registry, on_applied=self.dispatcher.slots_freed
        )
        self.sweeper = Sweeper(self.db, settings, self.results, self.registry)
        self.relay = OutboxRelay.from_settings(
            self.engine, self.publisher, settings, metrics_registry=self.registry
        )
        self.leader_gauge = Gauge(
            "bbp_scheduler_leader",
            "1 while this replica is the active scheduler",
            registry=self.registry,
        )
        self.liveness = Liveness()
        self.health = HealthServer(
            settings.health_host,
            settings.health_port,
            checks={"database": lambda: ping(self.engine), "broker": self._broker_ready},
            liveness=self.liveness,
            registry=self.registry,
        )
        self.stopping = threading.Event()
        self.leadership_lost = threading.Event()
        self.term: Term | None = None

    def _broker_ready(self) -> None:
        if not self.publisher.ready:
            raise ConnectionError("not connected to RabbitMQ")

    def on_request_event(self, message: Envelope, redelivered: bool) -> None:
        """A request was submitted or changed: look for work now rather than next tick."""
        log.info("request_event", type=message.type, request_id=message.body.get("request_id"))
        self.dispatcher.active_checked = 0.0
        self.dispatcher.wake.set()

    @property
    def leading(self) -> bool:
        return self.term is not None

    # ------------------------------------------------------------------ leadership

    def step(self) -> None:
        """One turn of the leadership loop: renew or try to take over."""
        self.liveness.beat()
        if self.term is not None:
            if self.leadership_lost.is_set() or not self.lease.renew():
                self._end_term()
            return
        if self.lease.try_acquire():
            self.leadership_lost.clear()
            self.term = Term(self)
            self.term.start()
            self.leader_gauge.set(1)
            log.info("leading", fencing_token=self.lease.token)

    def _end_term(self) -> None:
        term, self.term = self.term, None
        self.leader_gauge.set(0)
        if term is not None:
            term.end()
        log.info("standing_by")

    def start(self) -> SchedulerService:
        setup_topology(self.settings.amqp_url, delivery_limit=self.settings.amqp_delivery_limit)
        self.publisher.start()
        self.publisher.wait_ready(30)
        self.health.start()
        log.info("scheduler_started", scheduler_id=self.settings.scheduler_id)
        return self

    def stop(self) -> None:
        self._end_term()
        try:
            self.lease.release()
        except Exception:
            log.exception("lease_release_failed")
        self.publisher.close()
        self.engine.dispose()
        self.health.stop()
        log.info("scheduler_stopped")

    def run(self) -> None:
        install_stop_signals(self.stopping)
        self.start()
        try:
            while not self.stopping.is_set():
                try:
                    self.step()
                except Exception:
                    log.exception("leadership_step_failed")
                    if self.term is not None:
                        self._end_term()
                self.stopping.wait(self.settings.lease_renew_interval)
        finally:
            self.stop()


def bootstrap(settings: SchedulerSettings | None = None) -> SchedulerService:
    settings = settings or load_settings(SchedulerSettings)
    configure_logging("scheduler", settings.log_level, settings.log_format)
    return SchedulerService(settings)
