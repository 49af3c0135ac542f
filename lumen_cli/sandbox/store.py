"""The job store: every job and the request counts under one lock, and the state file.

Jobs are created, found and finished here; with a state file they survive a restart (written
atomically after every change). The store also prepares a job's webhook delivery (the signed
body of an ended job); sending it is :mod:`~lumen_cli.sandbox.webhooks`' job, and deciding when
is the server's.
"""

from __future__ import annotations

import json
import threading
from collections import deque
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from lumen_cli.fsutil import atomic_write
from lumen_cli.sandbox.jobs import (
    TERMINAL_STATUSES,
    ApiError,
    Job,
    generation_mode,
    json_bytes,
    new_job_id,
)
from lumen_cli.sandbox.webhooks import Delivery

STATE_VERSION = 1
INPUT_FIELDS = ("image_url", "last_image_url", "reference_image_urls", "reference_video_url")
# What the request log keeps of each request (tests read what a client sent), and how many.
LOGGED_HEADERS = ("Range", "If-Range", "Authorization", "Cookie", "User-Agent")
LOG_SIZE = 1000


class SandboxStateError(RuntimeError):
    """The state file exists but cannot be read as sandbox state."""


class JobStore:
    """The jobs of one sandbox, safe to use from any thread.

    *clock* gives the wall time that job statuses are computed from. With *state_file* set, the
    jobs in it are loaded now (:class:`SandboxStateError` if it is not a state file) and every
    change is written back.
    """

    def __init__(
        self, *, clock: Callable[[], float], job_seconds: float, state_file: Path | None = None
    ) -> None:
        self.clock = clock
        self.job_seconds = job_seconds
        self.state_file = state_file
        self._lock = threading.Lock()  # guards jobs and request counts
        self._jobs: dict[str, Job] = {}
        self._requests: dict[str, int] = {}
        self._log: deque[dict[str, str | None]] = deque(maxlen=LOG_SIZE)
        self._state_lock = threading.Lock()  # serialises state-file writes
        self._load()

    # -- requests -----------------------------------------------------------------------------

    def count(self, key: str) -> None:
        """Count one request under *key* (``"METHOD /template"``)."""
        with self._lock:
            self._requests[key] = self._requests.get(key, 0) + 1

    def log(self, method: str, path: str, headers: Mapping[str, str | None]) -> None:
        """Keep a request's method, path and ``LOGGED_HEADERS``; the last 1000 are kept."""
        entry: dict[str, str | None] = {"method": method, "path": path}
        entry.update({name: headers.get(name) for name in LOGGED_HEADERS})
        with self._lock:
            self._log.append(entry)

    def requests(self, path_prefix: str = "") -> list[dict[str, str | None]]:
        """The logged requests whose path starts with *path_prefix*, oldest first."""
        with self._lock:
            return [dict(e) for e in self._log if str(e["path"]).startswith(path_prefix)]

    def stats(self) -> dict[str, Any]:
        """Requests counted per route (``"METHOD /template"``) and the number of jobs."""
        with self._lock:
            return {"requests": dict(self._requests), "jobs": len(self._jobs)}

    # -- jobs ---------------------------------------------------------------------------------

    def create(self, spec: Mapping[str, Any]) -> Job:
        """Add a job for a validated create request (see ``validate_generation``)."""
        now = self.clock()
        job = Job(
            id=new_job_id(),
            model=spec["model"],
            prompt=spec["prompt"],
            resolution=spec["resolution"],
            aspect_ratio=spec["aspect_ratio"],
            duration=spec["duration"],
            generate_audio=spec["generate_audio"],
            mode=generation_mode(spec),
            created_at=now,
            ends_at=now + self.job_seconds,
            n=spec["n"],
            inputs={name: spec[name] for name in INPUT_FIELDS if spec.get(name)},
            webhook_url=spec["webhook_url"],
            webhook_secret=spec["webhook_secret"],
        )
        with self._lock:
            self._jobs[job.id] = job
        self._save()
        return job

    def get(self, job_id: str) -> Job:
        """The job *job_id*; :class:`ApiError` 404 if there is none."""
        with self._lock:
            job = self._jobs.get(job_id)
        if job is None:
            raise ApiError(404, "task not found")
        return job

    def finish(self, job_id: str, status: str) -> Job:
        """Force a job that is still queued or processing to end now as *status*.

        Raises ValueError for a status that is not terminal, :class:`ApiError` 404 for an
        unknown id and 409 for a job that already ended (a terminal job never changes).
        """
        if status not in TERMINAL_STATUSES:
            raise ValueError(f"status must be one of {TERMINAL_STATUSES}")
        job = self.get(job_id)
        with self._lock:
            now = self.clock()
            current = job.status(now)
            if current in TERMINAL_STATUSES:
                raise ApiError(409, f"job {job_id} already ended as {current}")
            job.forced_status, job.forced_at = status, now
        self._save()
        return job

    # -- webhooks -----------------------------------------------------------------------------

    def prepare_delivery(self, job_id: str, base_url: str) -> Delivery | float | None:
        """The signed delivery for a job that has ended, its result URLs under *base_url*.

        For a job that has not ended yet: the seconds until it does (the wall clock and the
        dispatcher's monotonic clock can disagree by a hair), or None if only a forced finish
        will end it (which schedules the delivery again).
        """
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None or not job.webhook_url or not job.webhook_secret:
                return None
            now = self.clock()
            status = job.status(now)
            if status not in TERMINAL_STATUSES:
                return None if job.ending == "forever" else max(job.ends_at - now, 0.001)
            payload = {"id": job.id, "status": status, **job.result(status, base_url)}
            return Delivery(job.id, job.webhook_url, job.webhook_secret, json_bytes(payload))

    def pending_webhooks(self) -> list[tuple[str, float]]:
        """``(job id, seconds until it ends)`` for jobs whose webhook is still to come.

        After a restart, loaded jobs that end in the future are delivered. Jobs that ended while
        the sandbox was down are not re-delivered: delivery state is not persisted, and a
        duplicate would surprise a test more than a missing one.
        """
        now = self.clock()
        with self._lock:
            return [
                (job.id, job.ends_at - now)
                for job in self._jobs.values()
                if job.webhook_url
                and job.forced_status is None
                and job.ending != "forever"
                and job.ends_at > now
            ]

    # -- state file ---------------------------------------------------------------------------

    def _save(self) -> None:
        """Write every job to the state file atomically (temp file, fsync, rename)."""
        path = self.state_file
        if path is None:
            return
        with self._state_lock:  # snapshot and write under one lock: the newest snapshot wins
            with self._lock:
                jobs = [job.to_state() for job in self._jobs.values()]
            path.parent.mkdir(parents=True, exist_ok=True)
            document = {"version": STATE_VERSION, "jobs": jobs}
            atomic_write(path, json_bytes(document), mode=0o600)

    def _load(self) -> None:
        path = self.state_file
        if path is None:
            return
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            return
        try:
            document = json.loads(raw)
            jobs = [Job.from_state(item) for item in document["jobs"]]
        except (ValueError, KeyError, TypeError) as exc:
            raise SandboxStateError(f"{path}: not a lumen sandbox state file ({exc})") from exc
        self._jobs = {job.id: job for job in jobs}
