"""Operator accounts, sessions, the live-tested connect, quarantine re-import (no browser)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import select

from kade.app import Kade
from kade.errors import UserError
from kade.eventlog import list_events
from kade.models import Connection, OperatorSession, Quarantine, utcnow
from kade.onboarding import add_tested_connection
from kade.operators import (
    add_operator,
    hash_password,
    login,
    logout,
    remove_operator,
    session_of,
    verify_password,
    visible_tenants,
)
from kade.quarantine import import_again, list_quarantine
from kade.tenants import add_tenant, enable_platform
from tests.support.factories import make_connection
from tests.support.fakeplatform import FakeStore
from tests.test_cli import assert_user_error, cli  # noqa: F401 - the fixture


def test_passwords_are_salted_scrypt_and_verify_only_themselves() -> None:
    one, two = hash_password("a long password"), hash_password("a long password")
    assert one != two and one.startswith("scrypt$")
    assert verify_password("a long password", one) and verify_password("a long password", two)
    assert not verify_password("a long passworD", one)
    for broken in ("", "scrypt$1$2", "bcrypt$1$2$3$00$00", one.replace("scrypt", "md5")):
        assert not verify_password("a long password", broken)


def test_operator_rules_and_sessions(kade: Kade) -> None:
    with kade.db.transaction() as session:
        acme, _ = add_tenant(session, "acme"), add_tenant(session, "globex")
        for bad, reason in ((("x y", "long enough pw"), "without spaces"), (("bob", "short"), "at least 10"),
                            (("bob", "long enough pw", ["nope"]), "nope")):
            with pytest.raises(UserError, match=reason):
                add_operator(session, *bad)  # type: ignore[arg-type]
        add_operator(session, "bob", "long enough pw", ["acme"])
        with pytest.raises(UserError, match="already exists"):
            add_operator(session, "bob", "another long pw")
    with kade.db.transaction() as session:
        with pytest.raises(UserError, match="unknown operator or wrong password") as wrong:
            login(session, "bob", "long enough pX")
        with pytest.raises(UserError) as unknown:
            login(session, "nobody", "long enough pw")
        assert str(wrong.value) == str(unknown.value)  # the answer does not tell names apart
        token, _ = login(session, "bob", "long enough pw")
    with kade.db.session() as session:
        found = session_of(session, token)
        assert found is not None
        who = found[1]
        assert [t.slug for t in visible_tenants(session, who)] == ["acme"] and who.sees(acme.id)
        assert not who.sees(None)  # operator-wide rows are not a scoped operator's
        assert session_of(session, token + "x") is None and session_of(session, "") is None
        stored = session.exec(select(OperatorSession)).one()
        assert token not in stored.token_hash  # only its digest is kept
    with kade.db.transaction() as session:
        stored = session.exec(select(OperatorSession)).one()
        stored.expires_at = utcnow() - timedelta(seconds=1)
        session.add(stored)
    with kade.db.session() as session:
        assert session_of(session, token) is None  # expired
    with kade.db.transaction() as session:
        token, _ = login(session, "bob", "long enough pw")
    with kade.db.transaction() as session:
        logout(session, token)
    with kade.db.session() as session:
        assert session_of(session, token) is None
    with kade.db.transaction() as session:
        remove_operator(session, "bob")
        with pytest.raises(UserError, match="no operator"):
            remove_operator(session, "bob")


def test_operator_cli(cli, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    assert cli("db", "upgrade")[0] == 0
    assert cli("tenant", "add", "shop")[0] == 0
    monkeypatch.setenv("KADE_OPERATOR_PASSWORD", "a long password")
    code, out, err = cli("operator", "add", "ann", "--tenant", "shop")
    assert code == 0, err
    assert "ann added (shop)" in out
    code, out, _ = cli("operator", "add", "root")
    assert code == 0 and "all tenants" in out
    assert_user_error(cli("operator", "add", "ann"), "already exists")
    code, out, _ = cli("operator", "list")
    assert "ann" in out and "shop" in out and "root" in out and "all" in out
    assert cli("operator", "remove", "ann")[0] == 0
    assert "ann" not in cli("operator", "list")[1]
    assert_user_error(cli("operator", "remove", "ann"), "no operator 'ann'")
    monkeypatch.delenv("KADE_OPERATOR_PASSWORD")
    code, _, _ = cli("operator", "add", "cat", input="a long password\na long password\n")
    assert code == 0 and "cat" in cli("operator", "list")[1]


def test_a_refused_live_check_keeps_no_connection(kade: Kade, store: FakeStore) -> None:
    with kade.db.transaction() as session:
        enable_platform(session, kade.pm, add_tenant(session, "acme"), "fake")
    store.credentials_expire_at = utcnow() + timedelta(days=40)
    args = dict(tenant_slug="acme", platform_name="fake", base_url="https://store.example",
                auth_method="token", actor="console:test")
    with pytest.raises(UserError, match="did not accept these credentials: .*token rejected"):
        add_tested_connection(kade, name="shop", credentials={"token": "bad"}, **args)  # type: ignore[arg-type]
    with kade.db.session() as session:
        assert session.exec(select(Connection)).all() == []
        assert [e.outcome for e in list_events(session, kind="connection_check")] == ["failed"]
    cid = add_tested_connection(kade, name="shop", credentials={"token": "good"}, **args)  # type: ignore[arg-type]
    with kade.db.session() as session:
        conn = session.get(Connection, cid)
        assert conn is not None and conn.status == "new" and conn.credentials_expire_at is not None


def test_import_again_resolves_a_fixed_record_and_keeps_a_still_broken_one(kade: Kade, store: FakeStore) -> None:
    conn = make_connection(kade)
    store.add_order("o1", [("SKU-1", None, 1)], malformed=True)
    from kade.ingest import import_orders

    assert conn.id is not None
    assert import_orders(kade, conn.id).quarantined == 1
    with kade.db.session() as session:
        (q, _), = list_quarantine(session)
    assert q.id is not None
    again = import_again(kade, q.id, actor="test")
    assert not again.resolved and again.reason == "order has no lines array"
    store.orders["o1"]["malformed"] = False  # fixed in the store
    assert import_again(kade, q.id, actor="test").resolved
    with kade.db.session() as session:
        assert list_quarantine(session) == []
        row = session.get(Quarantine, q.id)
        assert row is not None and row.resolved_at is not None
        assert [e.outcome for e in list_events(session, kind="quarantine_reimport")] == ["ok", "rejected"]
    with pytest.raises(UserError, match="no quarantined record"):
        import_again(kade, 999_999, actor="test")
