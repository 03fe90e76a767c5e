"""A local HTTP server speaking the Pinecone data-plane REST calls our store makes.

The official SDK is pointed at it as at an index host::

    with FakePinecone() as fake:
        index = Pinecone(api_key="pc-test").Index(host=fake.host)
        fake.throttle("delete", times=5)   # the next 5 deletes answer 429
        fake.lag = 0.2                     # writes show up 0.2 s later

Served: POST /vectors/upsert, POST /query (cosine; $eq, $in, $and filters),
GET /vectors/list (prefix, limit, paginationToken), POST /vectors/delete
(ids or deleteAll), DELETE /namespaces/<name>, POST /describe_index_stats.
Each call is recorded in ``fake.calls`` as (operation, namespace, count).
"""

from __future__ import annotations

import json
import math
import re
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from tests.fakes.serving import LocalServer, RoutedHandler, Running

LIST_PAGE = 100
DELETE_LIMIT = 1000


@dataclass(frozen=True)
class Call:
    operation: str
    namespace: str
    count: int


class PineconeError(Exception):
    def __init__(self, status: int, code: int, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def cosine(a: list[float], b: list[float]) -> float:
    dot = sum(x * y for x, y in zip(a, b, strict=False))
    norm = math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b))
    return dot / norm if norm else 0.0


def matches_filter(metadata: dict[str, Any], condition: dict[str, Any] | None) -> bool:
    if not condition:
        return True
    for key, expected in condition.items():
        if key == "$and":
            if not all(matches_filter(metadata, part) for part in expected):
                return False
            continue
        value = metadata.get(key)
        if isinstance(expected, dict):
            if "$eq" in expected and value != expected["$eq"]:
                return False
            if "$in" in expected and value not in expected["$in"]:
                return False
        elif value != expected:
            return False
    return True


class Index:
    """Namespaces of vectors, with writes that may become visible late."""

    def __init__(self) -> None:
        self.namespaces: dict[str, dict[str, tuple[list[float], dict[str, Any]]]] = (
            defaultdict(dict)
        )
        self.pending: list[tuple[float, Callable[[], None]]] = []

    def write(self, lag: float, change: Callable[[], None]) -> None:
        if lag <= 0:
            change()
        else:
            self.pending.append((time.monotonic() + lag, change))

    def settle(self) -> None:
        now = time.monotonic()
        due = [change for at, change in self.pending if at <= now]
        self.pending = [(at, change) for at, change in self.pending if at > now]
        for change in due:
            change()


ROUTES = [
    ("POST", re.compile(r"/vectors/upsert"), "upsert"),
    ("POST", re.compile(r"/query"), "query"),
    ("GET", re.compile(r"/vectors/list"), "list"),
    ("POST", re.compile(r"/vectors/delete"), "delete"),
    ("DELETE", re.compile(r"/namespaces/(?P<name>[^/]+)"), "delete_namespace"),
    ("POST", re.compile(r"/describe_index_stats"), "describe_index_stats"),
]


class _Handler(RoutedHandler):
    def dispatch(self) -> None:
        url = urlsplit(self.path)
        raw = self.read_body()
        fake = self.server.fake
        try:
            if self.headers.get("api-key") != fake.api_key:
                raise PineconeError(401, 16, "Invalid API Key")
            body = json.loads(raw) if raw else {}
            query = dict(parse_qsl(url.query))
            for method, pattern, name in ROUTES:
                if method == self.command and (match := pattern.fullmatch(url.path)):
                    fake._check_throttle(name)
                    with fake._lock:
                        fake.index.settle()
                        reply = getattr(fake, f"_{name}")(body, query, match)
                    self.send_json(200, reply)
                    return
            raise PineconeError(404, 5, f"Not found: {self.command} {url.path}")
        except PineconeError as exc:
            self.send_json(
                exc.status, {"code": exc.code, "message": exc.message, "details": []}
            )


class FakePinecone:
    """A fake serverless dense index (cosine) on one local port."""

    def __init__(self, api_key: str = "pc-fake-key", lag: float = 0.0) -> None:
        self.api_key = api_key
        self.lag = lag
        self.index = Index()
        self.calls: list[Call] = []
        self._throttled: dict[str, int] = defaultdict(int)
        self._lock = threading.Lock()
        self._running: Running | None = None

    def __enter__(self) -> FakePinecone:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def host(self) -> str:
        if self._running is None:
            raise RuntimeError("FakePinecone is not running; call start() first.")
        return self._running.url

    def start(self) -> FakePinecone:
        if self._running is None:
            server = LocalServer(("127.0.0.1", 0), _Handler, self)
            self._running = Running(server, "fake-pinecone")
        return self

    def stop(self) -> None:
        if self._running is None:
            return
        self._running.stop()
        self._running = None

    def reset(self) -> None:
        with self._lock:
            self.index = Index()
            self.calls.clear()
            self._throttled.clear()
            self.lag = 0.0

    def throttle(self, operation: str, times: int) -> None:
        """Answer the next `times` calls of this operation with 429."""
        with self._lock:
            self._throttled[operation] += times

    def vector_ids(self, namespace: str) -> set[str]:
        """What the namespace holds now, pending writes applied."""
        with self._lock:
            for _, change in self.index.pending:
                change()
            self.index.pending.clear()
            return set(self.index.namespaces.get(namespace, {}))

    def namespaces(self) -> set[str]:
        with self._lock:
            return {name for name, vectors in self.index.namespaces.items() if vectors}

    def _check_throttle(self, operation: str) -> None:
        with self._lock:
            if self._throttled[operation] > 0:
                self._throttled[operation] -= 1
                self.calls.append(Call(f"{operation}:429", "", 0))
                raise PineconeError(429, 8, "Request rate limit exceeded.")

    # Operations, called with the lock held.

    def _upsert(self, body: dict[str, Any], query: dict[str, str], match: Any) -> Any:
        namespace = body.get("namespace", "")
        vectors = body.get("vectors") or []
        self.calls.append(Call("upsert", namespace, len(vectors)))

        def change() -> None:
            for vector in vectors:
                self.index.namespaces[namespace][vector["id"]] = (
                    vector["values"],
                    vector.get("metadata") or {},
                )

        self.index.write(self.lag, change)
        return {"upsertedCount": len(vectors)}

    def _query(self, body: dict[str, Any], query: dict[str, str], match: Any) -> Any:
        namespace = body.get("namespace", "")
        self.calls.append(Call("query", namespace, int(body.get("topK", 0))))
        stored = self.index.namespaces.get(namespace, {})
        scored = [
            (cosine(body["vector"], values), vector_id, metadata)
            for vector_id, (values, metadata) in stored.items()
            if matches_filter(metadata, body.get("filter"))
        ]
        scored.sort(key=lambda item: (-item[0], item[1]))
        matches = [
            {
                "id": vector_id,
                "score": score,
                "values": [],
                **({"metadata": metadata} if body.get("includeMetadata") else {}),
            }
            for score, vector_id, metadata in scored[: int(body["topK"])]
        ]
        return {"matches": matches, "namespace": namespace, "usage": {"readUnits": 1}}

    def _list(self, body: dict[str, Any], query: dict[str, str], match: Any) -> Any:
        namespace = query.get("namespace", "")
        prefix = query.get("prefix", "")
        limit = min(int(query.get("limit") or LIST_PAGE), LIST_PAGE)
        after = query.get("paginationToken", "")
        ids = sorted(
            vector_id
            for vector_id in self.index.namespaces.get(namespace, {})
            if vector_id.startswith(prefix) and vector_id > after
        )
        page = ids[:limit]
        self.calls.append(Call("list", namespace, len(page)))
        reply: dict[str, Any] = {
            "vectors": [{"id": vector_id} for vector_id in page],
            "namespace": namespace,
            "usage": {"readUnits": 1},
        }
        if len(ids) > limit:
            reply["pagination"] = {"next": page[-1]}
        return reply

    def _delete(self, body: dict[str, Any], query: dict[str, str], match: Any) -> Any:
        namespace = body.get("namespace", "")
        ids = body.get("ids") or []
        if len(ids) > DELETE_LIMIT:
            raise PineconeError(400, 3, f"Delete at most {DELETE_LIMIT} ids at once.")
        self.calls.append(Call("delete", namespace, len(ids)))

        def change() -> None:
            stored = self.index.namespaces.get(namespace, {})
            if body.get("deleteAll"):
                stored.clear()
            for vector_id in ids:
                stored.pop(vector_id, None)

        self.index.write(self.lag, change)
        return {}

    def _delete_namespace(
        self, body: dict[str, Any], query: dict[str, str], match: Any
    ) -> Any:
        namespace = unquote(match["name"])
        self.calls.append(Call("delete_namespace", namespace, 0))
        if not self.index.namespaces.get(namespace):
            raise PineconeError(404, 5, "Namespace not found.")
        del self.index.namespaces[namespace]
        return {}

    def _describe_index_stats(
        self, body: dict[str, Any], query: dict[str, str], match: Any
    ) -> Any:
        counts = {
            name: {"vectorCount": len(vectors)}
            for name, vectors in self.index.namespaces.items()
            if vectors
        }
        return {
            "namespaces": counts,
            "dimension": 384,
            "indexFullness": 0.0,
            "totalVectorCount": sum(c["vectorCount"] for c in counts.values()),
            "metric": "cosine",
            "vectorType": "dense",
        }
