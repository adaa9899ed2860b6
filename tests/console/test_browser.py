"""The console in a real browser: log in, connect a store end to end, recover, scope, CSRF."""

from __future__ import annotations

import re
import time
from typing import Any

from sqlmodel import select

from kade.audit import notify
from kade.models import Action, ActionKind, ActionStatus, Connection, ConnectionStatus, Notification, Order
from kade.status import change_status
from tests.console.conftest import SCOPED, SCOPED_PW, Stack, login, shoot


def test_login_refuses_a_wrong_password_then_logs_in_and_out(page: Any, stack: Stack) -> None:
    page.goto(stack.console("/connections"))
    assert "/console/login" in page.url  # every page needs a session
    page.get_by_label("Operator name").fill("root")
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Log in").click()
    assert page.get_by_role("alert").filter(has_text="wrong password").is_visible()
    shoot(page, "login")
    page.get_by_label("Operator name").fill("root")
    page.get_by_label("Password").fill("correct horse battery")
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("heading", name="Connections", level=1).wait_for()  # back where it was sent from
    cookie = next(c for c in page.context.cookies() if c["name"] == "kade_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax" and not cookie["secure"]  # http here
    page.get_by_role("button", name="Log out").click()
    page.get_by_role("heading", name="Log in to Kade").wait_for()
    page.goto(stack.console("/"))
    assert "/console/login" in page.url  # the session is gone on the server too


def test_connect_a_store_through_the_whole_flow_and_see_its_orders(page: Any, stack: Stack) -> None:
    login(page, stack)
    shoot(page, "overview")
    page.get_by_role("link", name="Connections").first.click()
    page.get_by_role("link", name="Connect a store").click()
    shoot(page, "connect-platform")
    page.locator("section", has_text="acme").get_by_role("link", name="WooCommerce").click()
    page.get_by_label("Connection name").fill("acme-woo")
    page.get_by_label("Store URL").fill(stack.store.base_url)
    creds = stack.store.credentials()
    page.get_by_label("consumer key").fill(creds["consumer_key"])
    page.get_by_label("consumer secret").fill("wrong-secret")
    page.get_by_role("button", name="Test the login and continue").click()
    # tested live: the simulator refused, and nothing was kept
    assert page.get_by_role("alert").filter(has_text="did not accept").is_visible()
    with stack.kade.db.session() as session:
        assert session.exec(select(Connection).where(Connection.name == "acme-woo")).first() is None
    page.get_by_label("consumer key").fill(creds["consumer_key"])
    page.get_by_label("consumer secret").fill(creds["consumer_secret"])
    shoot(page, "connect-credentials")
    page.get_by_role("button", name="Test the login and continue").click()
    page.get_by_role("heading", name="3. Settings").wait_for()
    page.get_by_label("send shipments").check()
    shoot(page, "connect-settings")
    page.get_by_role("button", name="Save and review").click()
    page.get_by_role("heading", name="4. Summary").wait_for()
    happens = page.locator("main ol").last.inner_text()
    assert "Stock is NOT sent" in happens and "Shipments and tracking codes are reported" in happens
    with stack.kade.db.session() as session:
        conn = session.exec(select(Connection).where(Connection.name == "acme-woo")).one()
        assert conn.status == ConnectionStatus.NEW and conn.send_shipments and not conn.send_stock  # R5
    shoot(page, "connect-summary")
    page.get_by_role("button", name="Activate acme-woo").click()
    page.locator("#job-done").wait_for(timeout=60_000)  # htmx polls the progress until the job ends
    steps = page.locator(".jobsteps").inner_text()
    assert re.search(r"products linked: [1-9]\d* linked", steps), steps
    assert "orders imported: 3 new" in steps, steps
    shoot(page, "progress")
    page.get_by_role("link", name="Orders").first.click()
    page.get_by_label("Tenant").select_option("acme")
    page.get_by_role("button", name="Show").click()
    rows = page.locator("main tbody tr")
    assert rows.count() == 3
    assert rows.first.locator("td").nth(1).inner_text() == "acme-woo"  # the origin store
    shoot(page, "orders")
    rows.first.get_by_role("link").click()
    assert page.get_by_text("acme-woo (woocommerce)").is_visible()
    assert page.locator("main table tbody tr").count() >= 1  # its lines
    shoot(page, "order")
    page.goto(stack.console("/connections"))
    row = page.locator("tbody tr", has_text="acme-woo")
    assert "active" in row.inner_text() and "/webhooks/" in row.inner_text()
    assert "never" not in row.locator("td").nth(4).inner_text()  # a last successful import
    shoot(page, "connections")
    with stack.kade.db.session() as session:
        assert len(session.exec(select(Order).where(Order.connection_id == conn.id)).all()) == 3


def _paused_failed_action(stack: Stack) -> int:
    """A failed action on a paused connection: a retry puts it back in the queue, where it waits."""
    with stack.kade.db.transaction() as session:
        conn = session.get(Connection, stack.other_connection_id)
        assert conn is not None
        if conn.status != ConnectionStatus.PAUSED:
            change_status(session, conn, ConnectionStatus.PAUSED, reason="test", actor="test")
        action = Action(tenant_id=conn.tenant_id, connection_id=conn.id, kind=ActionKind.STOCK,
                        idempotency_key=f"test-failed-{time.monotonic_ns()}", status=ActionStatus.FAILED,
                        attempts=8, last_error="HTTP 500 from the store", payload={})
        session.add(action)
        session.flush()
        assert action.id is not None
        return action.id


def test_retry_a_failed_action(page: Any, stack: Stack) -> None:
    action_id = _paused_failed_action(stack)
    login(page, stack)
    assert page.get_by_role("alert").filter(has_text="action(s) failed").count() == 1  # the health banner
    page.get_by_role("link", name="Actions").first.click()
    shoot(page, "actions")
    page.get_by_role("button", name=f"Retry action {action_id}").click()
    assert page.get_by_role("status").inner_text() == "1 action(s) queued again"
    with stack.kade.db.session() as session:
        row = session.get(Action, action_id)
        assert row is not None and row.status == ActionStatus.PENDING and row.attempts == 0


def test_acknowledge_a_notification(page: Any, stack: Stack) -> None:
    with stack.kade.db.transaction() as session:
        note = notify(session, "order_cancelled_in_store", "Order 1001 was cancelled in the store after import",
                      dedupe_key=f"test-note-{time.monotonic_ns()}", tenant_id=1)
        session.flush()
        note_id = note.id
    login(page, stack)
    page.get_by_role("link", name="Notifications").first.click()
    card = page.locator(f"#note-{note_id}")
    shoot(page, "notifications")
    card.get_by_role("button", name="Acknowledge").click()
    assert "acknowledged" in page.locator(f"#note-{note_id}").inner_text()
    with stack.kade.db.session() as session:
        row = session.get(Notification, note_id)
        assert row is not None and row.acknowledged_at is not None


def test_alert_banner_appears_when_connections_drop(page: Any, stack: Stack) -> None:
    login(page, stack)
    banner = page.get_by_role("alert").filter(has_text="active connections stopped being active")
    assert banner.count() == 0
    with stack.kade.db.transaction() as session:
        for cid in stack.spare_connection_ids:
            conn = session.get(Connection, cid)
            assert conn is not None
            change_status(session, conn, ConnectionStatus.NEEDS_REAUTH, reason="login rejected", actor="test")
    try:
        page.reload()
        assert banner.count() == 1
        shoot(page, "overview-alert")
        page.get_by_role("link", name="Events").first.click()
        assert banner.count() == 1  # on every page
        page.get_by_label("Kind").fill("connection_status")
        page.get_by_role("button", name="Filter").click()
        assert "kind=connection_status" in page.url
        shoot(page, "events")
    finally:
        with stack.kade.db.transaction() as session:
            for cid in stack.spare_connection_ids:
                conn = session.get(Connection, cid)
                assert conn is not None
                change_status(session, conn, ConnectionStatus.ACTIVE, reason="back", actor="test")


def test_a_form_without_its_csrf_token_is_refused(page: Any, stack: Stack) -> None:
    action_id = _paused_failed_action(stack)
    login(page, stack)
    page.goto(stack.console("/actions"))
    form = page.locator("form", has=page.get_by_role("button", name=f"Retry action {action_id}"))
    form.locator("input[name=csrf]").evaluate("el => el.remove()")
    form.get_by_role("button").click()
    assert page.get_by_role("alert").filter(has_text="CSRF token is missing or wrong").is_visible()
    answer = page.request.post(stack.console("/actions/retry"), form={"id": str(action_id), "csrf": "forged"})
    assert answer.status == 403
    with stack.kade.db.session() as session:
        row = session.get(Action, action_id)
        assert row is not None and row.status == ActionStatus.FAILED  # nothing ran


def test_a_tenant_scoped_operator_sees_only_their_tenants(page: Any, stack: Stack) -> None:
    login(page, stack, SCOPED, SCOPED_PW)
    page.goto(stack.console("/tenants"))
    body = page.locator("main").inner_text()
    assert "acme" in body and "globex" not in body
    page.goto(stack.console("/connections"))
    assert "globex-store" not in page.locator("main").inner_text()
    for path in (f"/connections/{stack.other_connection_id}", "/orders?tenant=globex", "/connect/globex/woocommerce",
                 f"/events?connection={stack.other_connection_id}"):
        response = page.goto(stack.console(path))
        assert response is not None and response.status == 404, path
    page.goto(stack.console("/actions"))
    assert "globex" not in page.locator("main").inner_text()
    assert page.get_by_role("alert").filter(has_text="action(s) failed").count() == 0  # operator-wide health


def test_quarantined_record_shows_payload_and_reason_and_imports_again(page: Any, stack: Stack) -> None:
    from kade.ingest import import_orders

    remote_id = stack.store.seed_malformed_order()
    connection_id = stack.spare_connection_ids[0]
    assert import_orders(stack.kade, connection_id, full=True).quarantined >= 1
    login(page, stack)
    page.get_by_role("link", name="Quarantine").first.click()
    card = page.locator("section.card", has_text=f"order {remote_id}")
    assert "Reason:" in card.inner_text()
    card.get_by_text("Payload").click()  # <details>: keyboard and mouse alike
    assert remote_id in card.locator("pre").inner_text()
    shoot(page, "quarantine")
    card.get_by_role("button", name="Import again").click()
    assert page.get_by_role("status").inner_text().startswith("still refused")  # the store still sends it broken


def test_migrate_a_connection_login(page: Any, stack: Stack) -> None:
    target = stack.store.migration_target()
    assert target is not None
    method, credentials = target
    connection_id = stack.spare_connection_ids[1]
    login(page, stack)
    page.goto(stack.console(f"/connections/{connection_id}"))
    shoot(page, "connection")
    form = page.locator("form", has=page.get_by_role("heading", name=method))
    for field in stack.kade.pm.platform("woocommerce").spec.credential_fields[method]:
        form.get_by_label(field.replace("_", " ")).fill(credentials[field])  # the fields a person types
    form.get_by_role("button", name=f"Move to {method}").click()
    assert page.get_by_role("status").inner_text() == f"now logs in with {method}"
    with stack.kade.db.session() as session:
        conn = session.get(Connection, connection_id)
        assert conn is not None and conn.auth_method == method


UNLABELLED = """() => [...document.querySelectorAll('input, select, textarea')]
  .filter(el => el.type !== 'hidden' && !el.labels.length && !el.getAttribute('aria-label'))
  .map(el => el.name || el.id)"""


def test_pages_have_one_h1_labelled_fields_and_a_keyboard_path(page: Any, stack: Stack) -> None:
    login(page, stack)
    paths = ["/", "/tenants", "/connections", "/connect", "/connect/acme/woocommerce",
             f"/connections/{stack.spare_connection_ids[0]}", f"/connections/{stack.spare_connection_ids[0]}/setup",
             f"/connections/{stack.spare_connection_ids[0]}/summary", "/actions", "/quarantine", "/notifications",
             "/events", "/orders"]
    for path in paths:
        response = page.goto(stack.console(path))
        assert response is not None and response.status == 200, path
        assert page.locator("h1").count() == 1, path
        assert page.evaluate(UNLABELLED) == [], path
        assert page.locator("html").get_attribute("lang") == "en"
    page.goto(stack.console("/"))
    page.keyboard.press("Tab")  # the first stop is the skip link, and it leads to the content
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"


def test_readable_pages_work_without_javascript(browser: Any, stack: Stack) -> None:
    context = browser.new_context(java_script_enabled=False)
    try:
        page = context.new_page()
        login(page, stack)  # plain form posts and redirects
        page.goto(stack.console("/events?outcome=ok"))
        assert page.locator("main tbody tr").count() >= 1
        assert page.get_by_label("Outcome").input_value() == "ok"
    finally:
        context.close()
