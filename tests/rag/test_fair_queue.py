"""The in-process ingestion queue serves tenants in turn."""

import threading
import uuid

from rag.fair_queue import FairQueue


def test_tenants_take_turns_whatever_the_arrival_order():
    # given: the worker is busy with hr's first item while more arrive
    order: list[str] = []
    started = threading.Event()
    release = threading.Event()

    def job(schema_name: str, document_id: uuid.UUID) -> None:
        if not order:
            started.set()
            release.wait(timeout=10)
        order.append(schema_name)

    queue = FairQueue(job, thread_name="test-fair-queue")
    queue.submit("t_hr", uuid.uuid4())
    assert started.wait(timeout=10)
    queue.submit("t_support", uuid.uuid4())
    for _ in range(3):
        queue.submit("t_hr", uuid.uuid4())
    queue.submit("t_finance", uuid.uuid4())

    # when
    release.set()
    queue.wait_until_idle(timeout=10)

    # then: hr's backlog does not hold up finance, which came last
    assert order == ["t_hr", "t_support", "t_hr", "t_finance", "t_hr", "t_hr"]


def test_a_failing_job_does_not_stop_the_worker():
    done: list[uuid.UUID] = []
    first = uuid.uuid4()

    def job(schema_name: str, document_id: uuid.UUID) -> None:
        if document_id == first:
            raise RuntimeError("parser blew up")
        done.append(document_id)

    queue = FairQueue(job, thread_name="test-fair-queue")
    second = uuid.uuid4()
    queue.submit("t_hr", first)
    queue.submit("t_hr", second)

    queue.wait_until_idle(timeout=10)

    assert done == [second]
