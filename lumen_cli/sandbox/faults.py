"""Injected misbehaviour: the ``Fault`` record, the thread-safe ``FaultSet`` a server arms, and
the fault kinds with their validation.

Faults let a client's error handling be exercised against real HTTP: lost responses, 5xx,
garbage bodies, cut downloads, rate limits... The HTTP handler in
:mod:`lumen_cli.sandbox.routes` applies them; this module only describes and stores them.
Arm them in-process (``server.faults.add(...)``) or over HTTP (``POST /_sandbox/faults`` with a
fault object or a list of them, which replaces the armed set; ``GET`` lists them with their
remaining counts; ``DELETE`` disarms them all).

Most kinds are used up: each applies to the next ``count`` matching requests. The
``rate_limit`` kind is a standing fault instead, armed until the faults are cleared or replaced
(``count`` does not apply)::

    {"kind": "rate_limit", "per_second": 2}

It lets at most ``per_second`` matching requests through in any one-second window (by default
``POST /v1/videos/generations``, the job submit) and refuses the others with ``429``,
``Retry-After: 1`` and a ``rate_limit_error`` body. A refused request creates nothing, is
counted in the stats like any other, and does not count against the window, so after a
second's pause requests go through again. ``SandboxConfig(submit_rate_limit=N)`` (``python -m
lumen_cli.sandbox --submit-rate-limit N``) arms one when the server is made.
"""

from __future__ import annotations

import collections
import dataclasses
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

# Faults that replace or disturb the whole exchange, and those that only make sense while a file
# is being served. A request consumes at most one of each group.
GENERIC_FAULTS = frozenset(
    {"status", "garbage", "empty", "wrong_types", "drop", "drop_after_create", "delay"}
)
DOWNLOAD_FAULTS = frozenset({"cut", "ignore_range", "change_etag", "wrong_offset", "slow"})
RATE_LIMIT = "rate_limit"  # a standing fault: never used up, never taken
FAULT_KINDS = GENERIC_FAULTS | DOWNLOAD_FAULTS | {RATE_LIMIT}

SUBMIT_PATH = "/v1/videos/generations"  # what a rate limit applies to by default (with POST)
RATE_WINDOW = 1.0  # seconds


@dataclasses.dataclass
class Fault:
    """One injected misbehaviour, applied to the next ``count`` matching requests.

    A fault matches a request when ``method`` (any if None) is its method and its path starts
    with ``path``. Download kinds default to ``/files/``; ``rate_limit``, given neither method
    nor path, to ``POST /v1/videos/generations``; the others to every API path. The
    ``/_sandbox/`` routes are never faulted, so a test can always reach them.
    """

    kind: str
    method: str | None = None
    path: str = ""
    count: int = 1
    status: int = 503  # kind "status"
    retry_after: str | None = None  # kind "status"
    body: str | None = None  # kind "status"
    content_type: str | None = None  # kind "status"
    seconds: float = 1.0  # kind "delay"
    at: int | None = None  # kind "cut" (default: half the file), "wrong_offset"
    bytes_per_second: int = 64 * 1024  # kind "slow"
    per_second: int = 1  # kind "rate_limit"

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; one of {sorted(FAULT_KINDS)}")
        if self.kind == RATE_LIMIT:
            if self.count != 1:
                raise ValueError("a rate_limit fault is never used up: leave out count")
            if self.method is None and not self.path:
                self.method, self.path = "POST", SUBMIT_PATH
        if self.method is not None:
            self.method = self.method.upper()
        if not self.path:
            self.path = "/files/" if self.kind in DOWNLOAD_FAULTS else "/"
        if not self.path.startswith("/"):
            raise ValueError("fault path must start with '/'")
        _check_int("count", self.count, low=1)
        _check_int("status", self.status, low=200, high=599)
        _check_int("bytes_per_second", self.bytes_per_second, low=1)
        _check_int("per_second", self.per_second, low=1)
        if self.at is not None:
            _check_int("at", self.at, low=0)
        if isinstance(self.seconds, bool) or not isinstance(self.seconds, (int, float)):
            raise ValueError("seconds must be a number")
        if self.seconds < 0:
            raise ValueError("seconds must not be negative")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Fault:
        """Build a fault from its JSON form; unknown keys are an error, not silently ignored."""
        names = {field.name for field in dataclasses.fields(cls)}
        unknown = set(data) - names
        if unknown:
            raise ValueError(f"unknown fault field(s): {', '.join(sorted(unknown))}")
        if "kind" not in data:
            raise ValueError("a fault needs a 'kind'")
        fields = dict(data)
        for name in ("kind", "method", "path", "body", "content_type"):
            if fields.get(name) is not None and not isinstance(fields[name], str):
                raise ValueError(f"fault field {name!r} must be a string")
        if fields.get("retry_after") is not None:
            fields["retry_after"] = str(fields["retry_after"])  # "1" and 1 both mean one second
        return cls(**fields)

    def matches(self, method: str, path: str) -> bool:
        """True when this fault applies to a request for *method* *path*."""
        return (self.method is None or self.method == method) and path.startswith(self.path)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form, as ``GET /_sandbox/faults`` shows it (with the remaining count)."""
        return dataclasses.asdict(self)


def _check_int(name: str, value: object, *, low: int, high: int | None = None) -> None:
    """Reject non-integers (bool included) and values outside ``low..high``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be an integer")
    if value < low or (high is not None and value > high):
        limit = f"{low}..{high}" if high is not None else f">= {low}"
        raise ValueError(f"{name} must be {limit}")


class FaultSet:
    """The faults currently armed on a server; safe to change from any thread.

    Examples::

        server.faults.add("status", method="GET", status=503, count=2, retry_after="1")
        server.faults.add("cut", at=1000)
        server.faults.replace([{"kind": "drop_after_create", "method": "POST"}])
        server.faults.add("rate_limit", per_second=2)
        server.faults.clear()

    *clock* gives the seconds that rate limits measure their one-second windows in.
    """

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []
        self._clock = clock
        # When each armed rate_limit fault (by id) let requests through, oldest first.
        self._admitted: dict[int, collections.deque[float]] = {}

    def add(self, kind: str, **fields: Any) -> Fault:
        """Arm one more fault (after those already armed) and return it."""
        fault = Fault.from_dict({"kind": kind, **fields})
        with self._lock:
            self._faults.append(fault)
        return fault

    def replace(self, faults: Iterable[Fault | Mapping[str, Any]]) -> None:
        """Arm exactly *faults*, dropping the current set. Validates all before changing any."""
        parsed = [f if isinstance(f, Fault) else Fault.from_dict(f) for f in faults]
        with self._lock:
            self._faults = parsed
            self._admitted = {}

    def clear(self) -> None:
        """Disarm every fault."""
        with self._lock:
            self._faults = []
            self._admitted = {}

    def take(self, method: str, path: str, kinds: frozenset[str]) -> Fault | None:
        """Consume one use of the first armed fault of *kinds* matching the request, if any."""
        with self._lock:
            for index, fault in enumerate(self._faults):
                if fault.kind in kinds and fault.matches(method, path):
                    fault.count -= 1
                    if fault.count <= 0:
                        del self._faults[index]
                        self._admitted.pop(id(fault), None)
                    return dataclasses.replace(fault, count=1)
        return None

    def rate_limited(self, method: str, path: str) -> Fault | None:
        """The armed ``rate_limit`` fault that refuses this request, if any.

        A request is let through when every matching limit has let fewer than its
        ``per_second`` requests through in the last second; it then counts against each of
        them. A refused request counts against none.
        """
        with self._lock:
            now = self._clock()
            windows: list[collections.deque[float]] = []
            for fault in self._faults:
                if fault.kind != RATE_LIMIT or not fault.matches(method, path):
                    continue
                window = self._admitted.setdefault(id(fault), collections.deque())
                if window and window[-1] > now:  # the clock went back: start afresh
                    window.clear()
                while window and window[0] <= now - RATE_WINDOW:
                    window.popleft()
                if len(window) >= fault.per_second:
                    return dataclasses.replace(fault)
                windows.append(window)
            for window in windows:
                window.append(now)
        return None

    def snapshot(self) -> list[dict[str, Any]]:
        """The armed faults as JSON-ready dicts, with their remaining counts."""
        with self._lock:
            return [fault.to_dict() for fault in self._faults]

    def __len__(self) -> int:
        with self._lock:
            return len(self._faults)
