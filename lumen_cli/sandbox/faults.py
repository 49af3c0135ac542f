"""Injected misbehaviour: the ``Fault`` record, the thread-safe ``FaultSet`` a server arms, and
the fault kinds with their validation.

Faults let a client's error handling be exercised against real HTTP: lost responses, 5xx,
garbage bodies, cut downloads... The HTTP handler in :mod:`lumen_cli.sandbox.server` consumes
them; this module only describes and stores them.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterable, Mapping
from typing import Any

# Faults that replace or disturb the whole exchange, and those that only make sense while a file
# is being served. A request consumes at most one of each group.
GENERIC_FAULTS = frozenset(
    {"status", "garbage", "empty", "wrong_types", "drop", "drop_after_create", "delay"}
)
DOWNLOAD_FAULTS = frozenset({"cut", "ignore_range", "change_etag", "wrong_offset", "slow"})
FAULT_KINDS = GENERIC_FAULTS | DOWNLOAD_FAULTS


@dataclasses.dataclass
class Fault:
    """One injected misbehaviour, applied to the next ``count`` matching requests.

    A fault matches a request when ``method`` (any if None) is its method and its path starts
    with ``path``. Download kinds default to ``/files/``; the others to every API path. The
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

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; one of {sorted(FAULT_KINDS)}")
        if self.method is not None:
            self.method = self.method.upper()
        if not self.path:
            self.path = "/files/" if self.kind in DOWNLOAD_FAULTS else "/"
        if not self.path.startswith("/"):
            raise ValueError("fault path must start with '/'")
        _check_int("count", self.count, low=1)
        _check_int("status", self.status, low=200, high=599)
        _check_int("bytes_per_second", self.bytes_per_second, low=1)
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
        server.faults.clear()
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []

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

    def clear(self) -> None:
        """Disarm every fault."""
        with self._lock:
            self._faults = []

    def take(self, method: str, path: str, kinds: frozenset[str]) -> Fault | None:
        """Consume one use of the first armed fault of *kinds* matching the request, if any."""
        with self._lock:
            for index, fault in enumerate(self._faults):
                if fault.kind in kinds and fault.matches(method, path):
                    fault.count -= 1
                    if fault.count <= 0:
                        del self._faults[index]
                    return dataclasses.replace(fault, count=1)
        return None

    def snapshot(self) -> list[dict[str, Any]]:
        """The armed faults as JSON-ready dicts, with their remaining counts."""
        with self._lock:
            return [fault.to_dict() for fault in self._faults]

    def __len__(self) -> int:
        with self._lock:
            return len(self._faults)
