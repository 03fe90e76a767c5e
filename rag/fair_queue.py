"""A single background worker that serves tenants in turn, not in arrival order.

Used for ingestion in the web process: one department uploading fifty files
must not make another department's one file wait behind all fifty.
"""

import logging
import threading
import uuid
from collections import OrderedDict, deque
from collections.abc import Callable

logger = logging.getLogger(__name__)

Job = Callable[[str, uuid.UUID], None]


class FairQueue:
    """Run `job(schema_name, document_id)` on one thread, one tenant's item at a time."""

    def __init__(self, job: Job, thread_name: str) -> None:
        self._job = job
        self._thread_name = thread_name
        # Tenants waiting their turn, the next one first; each with its items.
        self._waiting: OrderedDict[str, deque[uuid.UUID]] = OrderedDict()
        self._busy = False
        self._changed = threading.Condition()
        self._thread: threading.Thread | None = None

    def submit(self, schema_name: str, document_id: uuid.UUID) -> None:
        with self._changed:
            self._waiting.setdefault(schema_name, deque()).append(document_id)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._work, name=self._thread_name, daemon=True
                )
                self._thread.start()
            self._changed.notify_all()

    def wait_until_idle(self, timeout: float) -> None:
        with self._changed:
            idle = self._changed.wait_for(
                lambda: not self._waiting and not self._busy, timeout=timeout
            )
        if not idle:
            raise TimeoutError(f"background ingestion still busy after {timeout} s")

    def _work(self) -> None:
        while True:
            schema_name, document_id = self._next()
            try:
                self._job(schema_name, document_id)
            except Exception:
                # The job reports its own failures; the worker must outlive them.
                logger.exception(
                    "fair_queue.job_failed",
                    extra={"schema": schema_name, "document_id": str(document_id)},
                )
            finally:
                with self._changed:
                    self._busy = False
                    self._changed.notify_all()

    def _next(self) -> tuple[str, uuid.UUID]:
        with self._changed:
            self._changed.wait_for(lambda: bool(self._waiting))
            schema_name, items = self._waiting.popitem(last=False)
            document_id = items.popleft()
            if items:
                self._waiting[schema_name] = items  # back of the line
            self._busy = True
            return schema_name, document_id
