"""A bounded job queue with worker threads, progress, cancellation and per-job temp folders.

Why not one request = one stylization: TensorFlow and LiteRT models are loaded once and are not
safe to call from many threads at once, and a burst of requests must not pile up unbounded work
(or memory). So requests only *enqueue*; ``workers`` threads run jobs one at a time each, at most
``max_queue`` jobs wait, and a full queue is refused at once (:class:`QueueFull`) instead of
letting a browser tab hang. No TensorFlow here: the job body is a callable given by the app.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import shutil
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tfstyle.errors import TfstyleError

log = logging.getLogger("tfstyle.web")

QUEUED, RUNNING, DONE, ERROR, CANCELLED = "queued", "running", "done", "error", "cancelled"
FINISHED = (DONE, ERROR, CANCELLED)


class QueueFull(TfstyleError):
    """Every worker is busy and ``max_queue`` jobs already wait."""


class Cancelled(Exception):
    """Raised inside a running job (from its progress callback) once it has been cancelled."""


@dataclass
class Job:
    """One stylization request: inputs and result live in ``folder``, removed when the job goes."""

    id: str
    folder: Path
    params: Any = None  # what the job body needs (the app's request dataclass)
    state: str = QUEUED
    done: int = 0  # progress: ``done`` of ``total`` steps (tiles)
    total: int = 0
    message: str = ""
    result: Path | None = None
    created: float = field(default_factory=time.monotonic)
    started: float | None = None
    finished: float | None = None
    cancel_event: threading.Event = field(default_factory=threading.Event)

    def progress(self, done: int, total: int) -> None:
        """The job body's progress callback; it is also where a running job notices a cancel."""
        self.done, self.total = int(done), int(total)
        if self.cancel_event.is_set():
            raise Cancelled

    def check_cancelled(self) -> None:
        if self.cancel_event.is_set():
            raise Cancelled

    def status(self, position: int | None = None) -> dict:
        now = time.monotonic()
        end = self.finished or now
        return {
            "id": self.id,
            "state": self.state,
            "done": self.done,
            "total": self.total,
            "progress": (self.done / self.total) if self.total else (1.0 if self.state == DONE else 0.0),
            "message": self.message,
            "position": position,
            "elapsed_s": round(end - (self.started or end), 3),
            "waited_s": round((self.started or end) - self.created, 3),
        }


@dataclass
class QueueConfig:
    workers: int = 1  # threads running jobs (each engine is still used by one thread at a time)
    max_queue: int = 4  # jobs that may wait besides the running ones; more are refused
    keep_s: float = 600.0  # finished jobs (and their result files) are dropped after this long
    max_finished: int = 32  # ... or when more than this many finished jobs are kept


class JobQueue:
    """Runs ``body(job) -> result path`` for submitted jobs on worker threads.

    Each job owns a folder under ``root``; inputs go there before :meth:`submit`, the result is
    written there by the body, and the folder is removed when the job is deleted, expires or
    is cancelled while queued. :meth:`close` stops the workers and removes every folder.
    """

    def __init__(self, root: str | Path, body: Callable[[Job], Path], config: QueueConfig | None = None):
        self.root = Path(root)
        self.body = body
        self.config = config or QueueConfig()
        if self.config.workers < 1 or self.config.max_queue < 0:
            raise TfstyleError("workers must be >= 1 and max_queue >= 0")
        self._jobs: dict[str, Job] = {}
        self._pending: deque[Job] = deque()
        self._cond = threading.Condition()
        self._closed = False
        self._running = 0
        self._threads = [
            threading.Thread(target=self._work, name=f"tfstyle-worker-{i}", daemon=True)
            for i in range(self.config.workers)
        ]
        for thread in self._threads:
            thread.start()

    # -- requests

    def new_job(self) -> Job:
        """A job with an empty folder, not yet queued (the app saves the uploads into it)."""
        job_id = uuid.uuid4().hex
        folder = self.root / job_id
        folder.mkdir(parents=True)
        return Job(id=job_id, folder=folder)

    def has_room(self) -> bool:
        """Whether a submit now would be accepted (checked before uploads are saved)."""
        with self._cond:
            return len(self._pending) < self._room()

    def submit(self, job: Job) -> int:
        """Queue ``job``; returns how many jobs wait before it. Raises :class:`QueueFull`."""
        with self._cond:
            self._expire()
            if self._closed:
                raise QueueFull("the server is shutting down")
            if len(self._pending) >= self._room():
                raise QueueFull(self.busy_message())
            self._jobs[job.id] = job
            self._pending.append(job)
            self._cond.notify()
            return len(self._pending) - 1

    def busy_message(self) -> str:
        return (
            f"The server is busy: {self._running} running and {len(self._pending)} waiting "
            f"(the queue holds {self.config.max_queue}). Please try again in a moment."
        )

    def get(self, job_id: str) -> Job | None:
        with self._cond:
            self._expire()
            return self._jobs.get(job_id)

    def status(self, job_id: str) -> dict | None:
        with self._cond:
            job = self._jobs.get(job_id)
            if job is None:
                return None
            position = self._pending.index(job) if job.state == QUEUED and job in self._pending else None
            return job.status(position)

    def cancel(self, job_id: str) -> Job | None:
        """A queued job is cancelled now; a running one at its next progress step (or its result
        is discarded when it ends); a finished one is left as it is."""
        with self._cond:
            job = self._jobs.get(job_id)
            if job is None:
                return None
            job.cancel_event.set()
            if job.state == QUEUED:
                with contextlib.suppress(ValueError):
                    self._pending.remove(job)
                self._finish(job, CANCELLED, "cancelled")
            return job

    def delete(self, job_id: str) -> bool:
        """Forget a job and remove its files (a running one is cancelled first)."""
        job = self.cancel(job_id)
        if job is None:
            return False
        with self._cond:
            if job.state in FINISHED:
                self._drop(job)
            else:  # running: forgotten now, its folder is removed by its worker as soon as it stops
                self._jobs.pop(job.id, None)
        return True

    def counts(self) -> dict[str, int]:
        with self._cond:
            return {"running": self._running, "waiting": len(self._pending), "kept": len(self._jobs)}

    def close(self, timeout: float = 10.0) -> None:
        """Cancel everything, stop the workers and remove every job folder."""
        with self._cond:
            self._closed = True
            for job in list(self._jobs.values()):
                job.cancel_event.set()
            self._pending.clear()
            self._cond.notify_all()
        for thread in self._threads:
            thread.join(timeout)
        with self._cond:
            for job in list(self._jobs.values()):
                self._drop(job)

    # -- internals (call with the lock held)

    def _room(self) -> int:
        # a job a free worker is about to pick up has not left ``_pending`` yet: count idle workers
        return self.config.max_queue + (self.config.workers - self._running)

    def _finish(self, job: Job, state: str, message: str = "") -> None:
        job.state, job.message, job.finished = state, message, time.monotonic()
        if state != DONE:
            shutil.rmtree(job.folder, ignore_errors=True)
            job.result = None

    def _drop(self, job: Job) -> None:
        self._jobs.pop(job.id, None)
        shutil.rmtree(job.folder, ignore_errors=True)

    def _expire(self) -> None:
        now = time.monotonic()
        finished = sorted(
            (j for j in self._jobs.values() if j.state in FINISHED), key=lambda j: j.finished or 0.0
        )
        extra = len(finished) - self.config.max_finished
        for i, job in enumerate(finished):
            if i < extra or now - (job.finished or now) > self.config.keep_s:
                self._drop(job)

    # -- the worker threads

    def _work(self) -> None:
        while True:
            with self._cond:
                while not self._pending and not self._closed:
                    self._cond.wait()
                if self._closed:
                    return
                job = self._pending.popleft()
                job.state, job.started = RUNNING, time.monotonic()
                self._running += 1
            state, message, result = ERROR, "", None
            try:
                job.check_cancelled()
                result = self.body(job)
                job.check_cancelled()  # cancelled after its last progress step: discard the result
                state = DONE
            except Cancelled:
                state, message = CANCELLED, "cancelled"
            except TfstyleError as exc:
                message = str(exc)
            except MemoryError:
                message = "out of memory; try a smaller output size"
            except Exception as exc:  # the server keeps running; the page shows one line
                log.exception("job %s failed", job.id)
                message = f"internal error ({type(exc).__name__}: {exc})"[:300]
            with self._cond:
                self._running -= 1
                job.result = result
                self._finish(job, state, message)
                if job.id not in self._jobs or self._closed:  # deleted while it ran
                    self._drop(job)
                idle = not self._pending and not self._running
            if idle:
                release_memory()


def release_memory() -> None:
    """Hand freed heap pages back to the OS (glibc keeps them per thread arena otherwise), so the
    server's memory returns to its idle level after a burst instead of staying at the peak."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)
