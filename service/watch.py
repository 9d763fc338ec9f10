"""Follow the published index version: every replica loads each new version by itself.

A daemon thread stats ``CURRENT`` every ``interval_s`` seconds. Publishing
replaces that file whole, so its identity (inode, size, modification time)
changes with every publish; only then is it read and the new version loaded
through ``IndexHolder.reload``, verified exactly as at start. A version that
fails verification is not loaded: the current one keeps serving, ``/readyz`` and
``/metrics`` say why, and the watcher tries again only when ``CURRENT`` changes
again (never in a loop). Idle, a tick costs one ``stat``.

On a network file system, the client may cache ``CURRENT``'s attributes: mount
it with a short attribute cache (NFS ``actimeo=1``) so a publish is seen within
the interval.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from index import CurrentSignature, current_signature
from service.state import LOAD_ERRORS, IndexHolder

logger = logging.getLogger(__name__)


@dataclass
class WatchStats:
    """What the watcher has done, for ``/metrics``."""

    checks: int = 0
    loaded: int = 0
    refused: int = 0
    # From the publish (CURRENT's modification time) to this replica serving it; on a network file system
    # that time comes from the file server's clock.
    last_follow_seconds: float | None = None


class IndexWatcher:
    """Reloads ``holder`` whenever ``CURRENT`` in its index folder changes.

    Usage example::

        seen = current_signature(holder.index_dir)
        holder.load()
        watcher = IndexWatcher(holder, interval_s=2.0, seen=seen)
        watcher.start()
        ...
        watcher.stop()
    """

    def __init__(self, holder: IndexHolder, *, interval_s: float, seen: CurrentSignature) -> None:
        """``seen`` is ``current_signature`` taken before the holder's first load, so a publish during that
        load is caught at the first tick, and a version refused at start is not tried again until it changes."""
        if interval_s <= 0:
            raise ValueError(f"interval_s must be > 0, got {interval_s}")
        self.holder = holder
        self.interval_s = interval_s
        self.stats = WatchStats()
        self._seen = seen  # what CURRENT looked like when the served version (or the last refusal) was decided
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="healthqa-index-watch", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self.check()
            except Exception:  # the watcher must outlive any surprise; the next change is tried again
                logger.exception("index watch failed")

    def check(self) -> bool:
        """One tick: load the published version if ``CURRENT`` changed; True when a new version was loaded."""
        self.stats.checks += 1
        signature = current_signature(self.holder.index_dir)
        if signature == self._seen:
            return False
        self._seen = signature
        before = self.holder.current
        try:
            result = self.holder.reload()
        except LOAD_ERRORS as exc:
            self.stats.refused += 1
            logger.error("published index version refused; retrying when CURRENT changes", extra={"reason": str(exc)})
            return False
        if not result.changed and before is not None:
            return False
        self.stats.loaded += 1
        if signature is not None:
            self.stats.last_follow_seconds = round(time.time() - signature[3] / 1e9, 3)
        logger.info(
            "index version followed",
            extra={"index_version": result.index_version, "seconds_since_publish": self.stats.last_follow_seconds},
        )
        return True


def _version_number(name: str | None) -> float:
    return float(name[1:]) if name else 0.0


class IndexCollector:
    """Prometheus metrics read from the holder and the watcher at scrape time, so they are never stale."""

    def __init__(self, holder: Callable[[], IndexHolder | None], watcher: Callable[[], IndexWatcher | None]) -> None:
        self._holder, self._watcher = holder, watcher

    def collect(self) -> Iterator[Metric]:
        holder, watcher = self._holder(), self._watcher()
        if holder is None:
            return
        index, problem = holder.current, holder.problem
        yield GaugeMetricFamily(
            "healthqa_index_ready", "1 when a verified index version serves", value=index is not None
        )
        yield GaugeMetricFamily(
            "healthqa_index_served_version",
            "Number of the version served (v000007: 7)",
            value=_version_number(index.version if index else None),
        )
        yield GaugeMetricFamily(
            "healthqa_index_published_version",
            "Number of the version CURRENT names (0: none or unreadable)",
            value=_version_number(holder.published_name()),
        )
        info = GaugeMetricFamily(
            "healthqa_index_problem",
            "1 with the reason when no version, or not the published one, serves",
            labels=["reason"],
        )
        if problem:
            info.add_metric([problem[:300]], 1)
        yield info
        if watcher is None:
            return
        yield GaugeMetricFamily(
            "healthqa_index_watch_interval_seconds", "How often CURRENT is checked", value=watcher.interval_s
        )
        yield CounterMetricFamily(
            "healthqa_index_watch_checks", "Times CURRENT was checked", value=watcher.stats.checks
        )
        loads = CounterMetricFamily(
            "healthqa_index_watch_loads", "Published versions the watcher loaded or refused", labels=["result"]
        )
        loads.add_metric(["loaded"], watcher.stats.loaded)
        loads.add_metric(["refused"], watcher.stats.refused)
        yield loads
        if watcher.stats.last_follow_seconds is not None:
            yield GaugeMetricFamily(
                "healthqa_index_watch_follow_seconds",
                "From the last publish followed (CURRENT's mtime) to serving it",
                value=watcher.stats.last_follow_seconds,
            )
