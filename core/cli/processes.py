"""``kade worker``, ``kade scheduler`` and ``kade serve``: the long-running processes."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from kade.cli.common import Exit2, err, load_settings, make_kade

commands: typer.Typer = typer.Typer()  # top-level: ``kade worker``, ``kade scheduler``, ``kade serve``


@commands.command("worker")
def worker(
    processes: Annotated[int, typer.Option(min=1, max=256, help="worker processes (Redis mode)")] = 2,
    threads: Annotated[int, typer.Option(min=1, max=256, help="threads per process")] = 4,
) -> None:
    """Run workers. With KADE_REDIS_URL: Dramatiq worker processes; without: in-process workers
    plus the scheduler (the embedded mode)."""
    settings = load_settings()
    if settings.redis_url:
        import dramatiq.cli

        make_kade().close()  # refuse to start (one line) on a stale schema or a wrong key
        argv = ["dramatiq", "kade.worker_main", "--processes", str(processes), "--threads", str(threads)]
        sys.argv = argv
        sys.exit(dramatiq.cli.main())  # type: ignore[no-untyped-call]
    _run_embedded(threads)


def _run_embedded(threads: int, *, scheduler: bool = True) -> None:
    import signal
    import threading

    from kade.runtime import Runtime
    from kade.scheduler import Scheduler

    kade = make_kade(log_level="INFO")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    runtime = Runtime(kade).send_on_commit().start(threads=threads)
    err.print(f"kade: embedded worker running with {threads} threads (Ctrl-C stops)")
    try:
        if scheduler:
            Scheduler(kade, runtime.actors).run(stop)
        else:
            stop.wait()
    finally:
        runtime.stop()
        kade.close()


@commands.command("scheduler")
def scheduler_cmd(interval: Annotated[float, typer.Option(min=0.1, max=3600, help="seconds between ticks")]
                  = 1.0) -> None:
    """Run the scheduler (polling, nightly stock check, outbox sweep). Only one acts at a time."""
    import signal
    import threading

    from kade.runtime import Runtime
    from kade.scheduler import Scheduler

    settings = load_settings()
    if not settings.redis_url:
        raise Exit2("without KADE_REDIS_URL the scheduler runs inside `kade worker`")
    kade = make_kade(log_level="INFO")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    runtime = Runtime(kade)
    try:
        Scheduler(kade, runtime.actors).run(stop, interval)
    finally:
        kade.close()


@commands.command("serve")
def serve_cmd(
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535)] = 8080,
) -> None:
    """Serve webhook intake (/webhooks/{token}), the warehouse API (/api/v1), the console (/console), /health
    and /metrics."""
    import uvicorn

    from kade.api import create_api, is_loopback
    from kade.logs import uvicorn_log_config
    from kade.runtime import Runtime

    kade = make_kade(log_level="INFO")
    public = not is_loopback(host)
    if public and not kade.settings.admin_token:
        err.print("kade: /metrics and the details of /health are off: set KADE_ADMIN_TOKEN to serve them beyond "
                  "loopback", markup=False, soft_wrap=True)
    runtime = Runtime(kade).send_on_commit()  # shipments and stock from the API go out as they commit
    if not kade.settings.redis_url:
        runtime.start(threads=2)  # embedded: the webhook's import runs in this process
    try:
        uvicorn.run(create_api(kade, runtime, public=public), host=host, port=port, log_level="warning",
                    access_log=False, log_config=uvicorn_log_config())
    finally:
        runtime.stop()
        kade.close()
