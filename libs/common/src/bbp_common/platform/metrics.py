"""Metrics held once per Prometheus registry.

A metric name may be registered in a registry only once, yet every consumer and relay of a
process wants the same counters: :class:`PerRegistry` hands out one instance per registry
(the process-wide ``REGISTRY`` unless a service or test gives its own), made on first use.
"""

from __future__ import annotations

import threading
import weakref
from typing import ClassVar, Self

from prometheus_client import REGISTRY, CollectorRegistry


class PerRegistry:
    """A set of metrics built in ``__init__(registry)``; :meth:`for_registry` shares it."""

    _instances: ClassVar[weakref.WeakKeyDictionary[CollectorRegistry, PerRegistry]]
    _lock: ClassVar[threading.Lock]

    def __init_subclass__(cls, **kwargs: object) -> None:
        # Each kind of metrics keeps its own instances (and lock).
        super().__init_subclass__(**kwargs)
        cls._instances = weakref.WeakKeyDictionary()
        cls._lock = threading.Lock()

    def __init__(self, registry: CollectorRegistry) -> None:
        """Registers the metrics in ``registry`` (subclasses)."""

    @classmethod
    def for_registry(cls, registry: CollectorRegistry | None = None) -> Self:
        """One instance per registry (registering a metric name twice is an error)."""
        target = registry or REGISTRY
        with cls._lock:
            metrics = cls._instances.get(target)
            if metrics is None:
                metrics = cls._instances[target] = cls(target)
            assert isinstance(metrics, cls)
            return metrics
