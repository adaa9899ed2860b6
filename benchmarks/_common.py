"""Shared plumbing for the benchmarks: a throw-away PostgreSQL database, a Kade app, timing.

Why: every benchmark must create and drop its own database and print comparable figures; the
fake HTTP store and its plugin come from ``tests.support.fakehttp`` (the same ones the
end-to-end tests use), so the repository root goes on ``sys.path`` here.
"""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import sqlalchemy as sa  # noqa: E402
from cryptography.fernet import Fernet  # noqa: E402

from kade.app import Kade  # noqa: E402
from kade.config import Settings  # noqa: E402
from kade.db import Database  # noqa: E402
from kade.logs import configure_logging  # noqa: E402
from kade.manager import make_plugin_manager  # noqa: E402

PG_ADMIN_URL = os.environ.get("KADE_BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("KADE_BENCH_REDIS_URL", "redis://127.0.0.1:6379/12")


@contextmanager
def temp_database() -> Iterator[str]:
    """A fresh, migrated PostgreSQL database, dropped afterwards (even on failure)."""
    name = f"kade_bench_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    try:
        db = Database(url)
        db.upgrade()
        db.dispose()
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def make_kade(url: str, tmp: Path, *, plugins: list[tuple[object, str]], **settings: Any) -> Kade:
    """A Kade app on ``url`` with only the given plugins, logging warnings only (logs cost time)."""
    configure_logging("json", "WARNING", force=True)
    config = Settings(data_dir=tmp / "data", database_url=url, secret_key=Fernet.generate_key().decode(),
                      _env_file=None, **settings)
    return Kade(config, pm=make_plugin_manager(load_entrypoints=False, plugins=plugins))


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def verdict(value: float, target: float, *, higher_is_better: bool = True) -> str:
    ok = value >= target if higher_is_better else value <= target
    return "OK" if ok else "MISSED"


def rss_mb() -> float:
    """This process's peak resident memory in MB (Linux reports KiB)."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def copy_linked_products(dsn: str, tenant_id: int, connection_id: int, products: int, *,
                         row: Callable[[int], tuple[str, str, int]], remote_id_sql: str) -> None:
    """COPY ``products`` warehouse products (``row(i)`` gives sku, name, stock) and link each to the
    store product ``remote_id_sql`` names (an SQL expression over ``sku``); setup, not measured.

    Streamed in chunks, so the setup does not raise the process's peak memory."""
    from datetime import UTC, datetime

    import psycopg

    now = datetime.now(UTC).isoformat()
    with psycopg.connect(dsn) as conn, conn.cursor() as cur:
        with cur.copy("COPY products (tenant_id, sku, name, stock, updated_at) FROM STDIN") as copy:
            for start in range(0, products, 20_000):
                copy.write("".join(f"{tenant_id}\t{sku}\t{name}\t{stock}\t{now}\n"
                                   for sku, name, stock in map(row, range(start, min(products, start + 20_000)))))
        cur.execute(
            "INSERT INTO product_links (connection_id, product_id, remote_id, remote_sku, manages_stock) "
            f"SELECT %s, id, {remote_id_sql}, sku, true FROM products WHERE tenant_id = %s",
            (connection_id, tenant_id),
        )
        conn.commit()
        cur.execute("ANALYZE products")
        cur.execute("ANALYZE product_links")


def active_connection(kade: Kade, platform: str, base_url: str, credentials: dict[str, str], *,
                      auth_method: str | None = None, settings: dict[str, str] | None = None) -> tuple[int, int]:
    """A tenant ``bench`` with one active connection that sends stock; (tenant id, connection id)."""
    from kade.connections import add_connection, update_setting
    from kade.models import ConnectionStatus
    from kade.status import change_status
    from kade.tenants import add_tenant, enable_platform

    with kade.db.transaction() as session:
        tenant = add_tenant(session, "bench")
        enable_platform(session, kade.pm, tenant, platform)
        conn = add_connection(session, kade.pm, kade.vault, tenant, platform_name=platform, name="shop",
                              base_url=base_url, credentials=credentials,
                              **({"auth_method": auth_method} if auth_method else {}))
        update_setting(session, kade.pm, conn, "send_stock", "on")
        for name, value in (settings or {}).items():
            update_setting(session, kade.pm, conn, name, value)
        change_status(session, conn, ConnectionStatus.ACTIVE, reason="bench", actor="bench")
        session.flush()
        return tenant.id or 0, conn.id or 0

