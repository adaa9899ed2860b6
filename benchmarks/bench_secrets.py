"""Key rotation and the webhook intake's guards: how long they take at realistic sizes.

Prints: connections re-encrypted per second by ``rotate_secrets`` on PostgreSQL (each with
credentials and one secret setting), the time of a resumed rotation with nothing left to do, and
the time the intake's nesting-depth scan takes for a 10 MB body (the default size limit).
No target in the brief; the figures show that neither is an operational concern.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from _common import make_kade, temp_database
from cryptography.fernet import Fernet

from kade import hookimpl
from kade.connections import add_connection
from kade.secrets import Vault, rotate_secrets, store_key_check
from kade.tenants import add_tenant, enable_platform
from kade.types import Capabilities, PlatformSpec, SettingSpec
from kade.webhooks import json_depth
from tests.support.fakeplatform import FakePlatform, FakeStore


class _Platform(FakePlatform):
    @hookimpl
    def kade_register_platforms(self) -> list[PlatformSpec]:
        (spec,) = FakePlatform.kade_register_platforms(self)
        return [spec.model_copy(update={"settings": (SettingSpec(name="signing_key", secret=True),)})]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--connections", type=int, default=5000)
    args = parser.parse_args()
    with temp_database() as url, tempfile.TemporaryDirectory() as tmp:
        kade = make_kade(url, Path(tmp), plugins=[(_Platform(FakeStore(), capabilities=Capabilities()), "fake")])
        old = kade.settings.secret_key
        with kade.db.transaction() as session:
            tenant = add_tenant(session, "bench")
            enable_platform(session, kade.pm, tenant, "fake")
            for n in range(args.connections):
                add_connection(session, kade.pm, kade.vault, tenant, platform_name="fake", name=f"c{n}",
                               base_url="https://store.example", credentials={"token": f"tok-{n:08d}"},
                               settings={"signing_key": f"whsec-{n:08d}"})
            store_key_check(session, kade.vault)
        kade.close()
        vault = Vault(f"{Fernet.generate_key().decode()},{old}")
        start = time.perf_counter()
        stats = rotate_secrets(kade.db, vault)
        took = time.perf_counter() - start
        print(f"rotation: {stats.rotated} connections (credentials + 1 secret setting each) in {took:.2f} s "
              f"= {stats.rotated / took:,.0f} connections/s")
        start = time.perf_counter()
        again = rotate_secrets(kade.db, vault)
        print(f"resumed rotation with nothing left: {again.current} current in {time.perf_counter() - start:.2f} s")
        kade.db.dispose()
    body = json.dumps({"orders": [{"id": n, "lines": [{"sku": f"S{n}", "qty": 1, "meta": {"a": [1, 2]}}] * 5}
                                  for n in range(20_000)]}).encode()
    body = body[: 10 * 1024 * 1024]
    start = time.perf_counter()
    depth = json_depth(body)
    print(f"depth scan: {len(body) / 1e6:.1f} MB body, depth {depth}, {1000 * (time.perf_counter() - start):.0f} ms")


if __name__ == "__main__":
    main()
