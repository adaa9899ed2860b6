"""Long operations started from the console (first product link, full import) with their progress.

They run on a thread of the serving process and report each finished step; the page showing one
polls its fragment (htmx, or a meta refresh without JavaScript). The work itself is the core's
``link_store_products`` and ``import_orders``: the same calls the CLI makes.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from kade.logs import get_logger

log = get_logger(__name__)

Step = tuple[str, Callable[[], str]]


@dataclass
class Job:
    id: str
    title: str
    tenant_id: int
    connection_id: int
    steps: list[str]
    done: list[str] = field(default_factory=list)
    running: bool = True
    error: str | None = None

    @property
    def percent(self) -> int:
        return int(100 * len(self.done) / max(1, len(self.steps)))


class Jobs:
    """The jobs of one console app; finished ones stay listed until the process ends (capped)."""

    KEEP = 200

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._jobs: dict[str, Job] = {}

    def start(self, title: str, tenant_id: int, connection_id: int, steps: list[Step]) -> Job:
        job = Job(id=uuid.uuid4().hex, title=title, tenant_id=tenant_id, connection_id=connection_id,
                  steps=[name for name, _ in steps])
        with self._lock:
            if len(self._jobs) >= self.KEEP:
                for old in [j for j in self._jobs.values() if not j.running][: self.KEEP // 2]:
                    del self._jobs[old.id]
            self._jobs[job.id] = job
        threading.Thread(target=self._run, args=(job, steps), name=f"console-job-{job.id[:8]}", daemon=True).start()
        return job

    def _run(self, job: Job, steps: list[Step]) -> None:
        try:
            for name, work in steps:
                outcome = work()
                with self._lock:
                    job.done.append(f"{name}: {outcome}")
        except Exception as exc:  # shown on the job's page; the core already logged and evented it
            log.warning("console_job_failed", job=job.title, error=str(exc))
            job.error = str(exc) or type(exc).__name__
        finally:
            job.running = False

    def get(self, job_id: str) -> Job | None:
        with self._lock:
            return self._jobs.get(job_id)

    def of_connection(self, connection_id: int) -> list[Job]:
        with self._lock:
            return [j for j in self._jobs.values() if j.connection_id == connection_id]
