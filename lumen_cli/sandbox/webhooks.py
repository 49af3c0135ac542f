"""Webhook delivery: the ``Delivery`` record and the background dispatcher that posts signed
completion callbacks, retrying with backoff after a 5xx or a network error.

``urllib.request`` and :mod:`lumen_cli.webhook` are imported only when a webhook is delivered,
so importing this module stays cheap.
"""

from __future__ import annotations

import dataclasses
import heapq
import http.client
import itertools
import threading
import time
from collections.abc import Callable
from functools import lru_cache
from typing import Any

from lumen_cli import __version__


@dataclasses.dataclass
class Delivery:
    """One job's webhook: what to send and how it has gone so far."""

    job_id: str
    url: str
    secret: str
    body: bytes
    attempts: int = 0
    last_status: int | None = None
    last_error: str | None = None
    delivered: bool = False
    done: bool = False

    def public(self) -> dict[str, Any]:
        """The record ``GET /_sandbox/deliveries`` shows (no secret, no body)."""
        return {
            "job_id": self.job_id,
            "url": self.url,
            "attempts": self.attempts,
            "last_status": self.last_status,
            "last_error": self.last_error,
            "delivered": self.delivered,
            "done": self.done,
        }


class WebhookDispatcher:
    """Delivers signed completion callbacks from one background thread.

    A heap holds ``(due, seq, job_id, is_retry)``; the thread sleeps until the earliest is due.
    A job may be scheduled twice (at its natural end and when forced): only the first entry
    starts a delivery, and after that only the retries it schedules itself can continue it.
    Attempts are made one at a time, so a slow receiver delays the others: fine for a sandbox.
    """

    def __init__(
        self,
        backoff: tuple[float, ...],
        timeout: float,
        prepare: Callable[[str], Delivery | float | None],
    ) -> None:
        self._backoff = backoff
        self._timeout = timeout
        self._prepare = prepare
        self._cond = threading.Condition()
        self._heap: list[tuple[float, int, str, bool]] = []
        self._seq = itertools.count()
        self._deliveries: dict[str, Delivery] = {}
        self._stopping = False
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        with self._cond:
            self._stopping = False
        self._thread = threading.Thread(
            target=self._run, name="lumen-sandbox-webhooks", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop after the attempt in flight (bounded by the delivery timeout)."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def schedule(self, job_id: str, delay: float) -> None:
        """Deliver *job_id*'s result in *delay* seconds, unless its delivery already began."""
        self._push(job_id, delay, is_retry=False)

    def records(self) -> list[dict[str, Any]]:
        with self._cond:
            return [delivery.public() for delivery in self._deliveries.values()]

    def _push(self, job_id: str, delay: float, *, is_retry: bool) -> None:
        with self._cond:
            due = time.monotonic() + max(0.0, delay)
            heapq.heappush(self._heap, (due, next(self._seq), job_id, is_retry))
            self._cond.notify_all()

    def _run(self) -> None:
        while (entry := self._next_due()) is not None:
            delivery = self._begin(*entry)
            if delivery is not None:
                status, error = _post_webhook(delivery, self._timeout)
                self._record(delivery, status, error)

    def _next_due(self) -> tuple[str, bool] | None:
        """Block until an entry is due and pop it as ``(job_id, is_retry)``; None once stopping."""
        with self._cond:
            while not self._stopping:
                if not self._heap:
                    self._cond.wait()
                    continue
                wait = self._heap[0][0] - time.monotonic()
                if wait > 0:
                    self._cond.wait(wait)
                    continue
                _, _, job_id, is_retry = heapq.heappop(self._heap)
                return job_id, is_retry
            return None

    def _begin(self, job_id: str, is_retry: bool) -> Delivery | None:
        """The delivery to attempt now, if any: a due retry, or the first for an ended job."""
        with self._cond:
            existing = self._deliveries.get(job_id)
        if existing is not None:
            return existing if is_retry and not existing.done else None
        prepared = self._prepare(job_id)
        if isinstance(prepared, float):  # woke a hair before the job ended: come back then
            self.schedule(job_id, prepared)
            return None
        if prepared is None:
            return None
        with self._cond:
            self._deliveries[job_id] = prepared
        return prepared

    def _record(self, delivery: Delivery, status: int | None, error: str | None) -> None:
        """Note an attempt's outcome; schedule the next one after a 5xx or a network error."""
        with self._cond:
            delivery.attempts += 1
            delivery.last_status = status
            delivery.last_error = error
            retry = status is None or status >= 500
            if not retry or delivery.attempts > len(self._backoff):
                delivery.delivered = status is not None and 200 <= status < 300
                delivery.done = True
                return
        self._push(delivery.job_id, self._backoff[delivery.attempts - 1], is_retry=True)


def _post_webhook(delivery: Delivery, timeout: float) -> tuple[int | None, str | None]:
    """Make one delivery attempt: ``(HTTP status, None)`` or ``(None, network error)``."""
    import urllib.error
    import urllib.request

    from lumen_cli.webhook.protocol import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign

    request = urllib.request.Request(  # noqa: S310 - the URL was checked to be http(s) on submit
        delivery.url,
        data=delivery.body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "User-Agent": f"lumen-sandbox/{__version__}",
            SIGNATURE_HEADER: sign(delivery.secret, delivery.body),
            TIMESTAMP_HEADER: str(int(time.time())),
        },
    )
    try:
        with _webhook_opener().open(request, timeout=timeout) as response:
            response.read()
            return int(response.status), None
    except urllib.error.HTTPError as exc:  # any non-2xx answer, redirects included
        exc.close()
        return exc.code, None
    except (OSError, http.client.HTTPException) as exc:
        return None, f"{type(exc).__name__}: {exc}"


@lru_cache(maxsize=1)
def _webhook_opener() -> Any:
    """A urllib opener that goes direct (no proxy from the environment) and never redirects.

    A webhook goes only to the URL the user set: a redirect is reported, not followed.
    """
    import urllib.request

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: Any, **kwargs: Any) -> None:
            return None

    return urllib.request.build_opener(urllib.request.ProxyHandler({}), NoRedirect())
