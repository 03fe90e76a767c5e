"""Process-wide objects made on first use, exactly once even under threads."""

import threading
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def made_once(factory: Callable[[], T]) -> Callable[[], T]:
    """Wrap a no-argument factory so every call returns the one object it made."""
    lock = threading.Lock()
    made: list[T] = []

    def get() -> T:
        with lock:
            if not made:
                made.append(factory())
        return made[0]

    return get
