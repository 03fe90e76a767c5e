"""HTTP calls to a tenant's Dify app over one pooled, keep-alive client."""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from dify.models import DifyConnection
from portal.lazy import made_once

# Streams are held open for as long as Dify answers; each worker thread may
# hold one, so the pool is sized well above gunicorn's thread count.
MAX_CONNECTIONS = 100


class DifyUnavailable(Exception):
    """Dify could not be reached or did not answer in time."""

    def __init__(self, timed_out: bool) -> None:
        super().__init__("timed out" if timed_out else "unreachable")
        self.timed_out = timed_out


@dataclass(frozen=True)
class Upstream:
    base_url: str
    api_key: str
    connect_timeout: float
    read_timeout: float

    @classmethod
    def of(cls, connection: DifyConnection) -> "Upstream":
        return cls(
            base_url=connection.base_url.rstrip("/"),
            api_key=connection.api_key,
            connect_timeout=connection.connect_timeout,
            read_timeout=connection.read_timeout,
        )

    @property
    def timeout(self) -> httpx.Timeout:
        return httpx.Timeout(
            self.read_timeout,
            connect=self.connect_timeout,
            pool=self.connect_timeout,
        )


@made_once
def _http() -> httpx.Client:
    limits = httpx.Limits(
        max_connections=MAX_CONNECTIONS, max_keepalive_connections=MAX_CONNECTIONS
    )
    return httpx.Client(limits=limits, follow_redirects=False, trust_env=False)


def send(
    upstream: Upstream,
    method: str,
    path: str,
    *,
    params: Mapping[str, str] | None = None,
    body: Any = None,
    stream: bool = False,
) -> httpx.Response:
    """Send one request to Dify; a streamed response must be closed by the caller."""
    headers = {"Authorization": f"Bearer {upstream.api_key}"}
    request = _http().build_request(
        method,
        f"{upstream.base_url}/{path}",
        params=params,
        json=body,
        headers=headers,
        timeout=upstream.timeout,
    )
    try:
        return _http().send(request, stream=stream)
    except httpx.TimeoutException:
        raise DifyUnavailable(timed_out=True) from None
    except httpx.HTTPError:
        raise DifyUnavailable(timed_out=False) from None
