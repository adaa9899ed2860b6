"""One redaction for every log path: structlog, the standard library (Dramatiq, uvicorn), tracebacks."""

from __future__ import annotations

import io
import logging
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import dramatiq
import pytest
from dramatiq.brokers.stub import StubBroker

from kade.logs import MASK, configure_logging, redact_text, register_secrets

SECRET = "refresh-tok-8c1f0e77aa"
BASIC = "Basic Y2xpZW50LWlkOmNsaWVudC1zZWNyZXQ="  # base64("client-id:client-secret"), never registered


@pytest.fixture
def root_log() -> Iterator[io.StringIO]:
    """A plain stdlib handler on the root logger, as Dramatiq's and uvicorn's processes have."""
    configure_logging("json", "INFO", force=True)
    register_secrets([SECRET])
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    old_level = root.level
    root.setLevel(logging.INFO)
    yield stream
    root.removeHandler(handler)
    root.setLevel(old_level)


def _fail_login() -> None:
    raise RuntimeError(f"bol login failed: refresh_token={SECRET}, header Authorization: {BASIC}")


def test_stdlib_records_and_their_tracebacks_are_redacted(root_log: io.StringIO) -> None:
    try:
        _fail_login()
    except RuntimeError:
        # a library's logger (uvicorn's own are configured not to propagate once a server ran)
        logging.getLogger("somelibrary.http").exception("Exception in ASGI application with %s", SECRET)
    text = root_log.getvalue()
    assert "Traceback" in text and "bol login failed" in text
    assert SECRET not in text and "Y2xpZW50LWlkOmNsaWVudC1zZWNyZXQ" not in text
    assert f"Basic {MASK}" in text


def test_a_failing_dramatiq_job_logs_no_secret(root_log: io.StringIO) -> None:
    broker = StubBroker()
    broker.emit_after("process_boot")

    def login() -> None:
        _fail_login()

    actor = dramatiq.Actor(login, broker=broker, actor_name="login", queue_name="default", priority=0,
                           options={"max_retries": 0})
    worker = dramatiq.Worker(broker, worker_threads=1)
    worker.start()
    try:
        actor.send()
        with pytest.raises(RuntimeError):  # the stub broker hands the job's failure to join()
            broker.join("default")
        worker.join()
    finally:
        worker.stop()
    text = root_log.getvalue()
    assert "Failed to process message" in text and "bol login failed" in text
    assert SECRET not in text and "Y2xpZW50LWlkOmNsaWVudC1zZWNyZXQ" not in text


def test_uncaught_exceptions_are_redacted(monkeypatch: pytest.MonkeyPatch) -> None:
    configure_logging("json", "INFO", force=True)
    register_secrets([SECRET])
    err = io.StringIO()
    monkeypatch.setattr(sys, "stderr", err)
    try:
        _fail_login()
    except RuntimeError as exc:
        sys.excepthook(type(exc), exc, exc.__traceback__)
    thread = threading.Thread(target=_fail_login, name="worker-1")
    thread.start()
    thread.join()
    text = err.getvalue()
    assert text.count("RuntimeError: bol login failed") == 2 and "worker-1" in text
    assert SECRET not in text and "Y2xpZW50LWlkOmNsaWVudC1zZWNyZXQ" not in text


@pytest.mark.parametrize(("raw", "kept"), [
    ("Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.abc", "Authorization: Bearer ***"),
    ("headers={'Authorization': 'Basic dXNlcjpwYXNzd29yZA=='}", "'Basic ***'"),
    ("GET https://user:hunter2pass@shop.example/wp-json", "https://user:***@shop.example/wp-json"),
    ("the store only speaks basic authentication", "the store only speaks basic authentication"),
])
def test_auth_header_values_and_url_passwords_are_masked_by_pattern(raw: str, kept: str) -> None:
    assert kept in redact_text(raw)



@contextmanager
def uvicorn_configured() -> Iterator[None]:
    """uvicorn's logging as ``kade serve`` sets it up; its handlers write to the current stderr."""
    import uvicorn

    from kade.logs import uvicorn_log_config

    configure_logging("json", "INFO", force=True)
    register_secrets([SECRET])
    uvicorn.Config(lambda scope, receive, send: None, log_level="info", log_config=uvicorn_log_config())
    try:
        yield
    finally:
        for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
            logging.getLogger(name).handlers.clear()


def _log_through_uvicorn() -> None:
    try:
        _fail_login()
    except RuntimeError:
        logging.getLogger("uvicorn.error").exception("Exception in ASGI application with %s", SECRET)


def test_uvicorn_errors_are_redacted_after_uvicorn_configured_its_logging(
        capsys: pytest.CaptureFixture[str], root_log: io.StringIO) -> None:
    with uvicorn_configured():
        _log_through_uvicorn()
        # a library logger still reaches the root handler, redacted, after uvicorn's dictConfig
        logging.getLogger("somelibrary.http").error("token %s", SECRET)
    text = capsys.readouterr().err
    assert "Traceback" in text and "bol login failed" in text and "Exception in ASGI application" in text
    assert "Logging error" not in text
    assert SECRET not in text and "Y2xpZW50LWlkOmNsaWVudC1zZWNyZXQ" not in text
    assert f"Basic {MASK}" in text
    assert f"token {MASK}" in root_log.getvalue() and SECRET not in root_log.getvalue()


def test_uvicorn_handlers_redact_even_when_the_record_factory_was_replaced(
        capsys: pytest.CaptureFixture[str]) -> None:
    """A library swapping the process-wide record factory must not switch redaction off."""
    factory = logging.getLogRecordFactory()
    with uvicorn_configured():
        logging.setLogRecordFactory(logging.LogRecord)
        try:
            _log_through_uvicorn()
        finally:
            logging.setLogRecordFactory(factory)
    text = capsys.readouterr().err
    assert "Traceback" in text and "bol login failed" in text and "Logging error" not in text
    assert SECRET not in text and "Y2xpZW50LWlkOmNsaWVudC1zZWNyZXQ" not in text


def test_a_failing_handler_does_not_print_the_exception_it_was_logging(capsys: pytest.CaptureFixture[str]) -> None:
    """``handleError`` prints the exception being handled as context: that text is redacted too."""
    configure_logging("json", "INFO", force=True)
    register_secrets([SECRET])
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    stream.close()
    logger = logging.getLogger("somelibrary.closed")
    logger.addHandler(handler)
    try:
        try:
            _fail_login()
        except RuntimeError:
            logger.exception("while handling %s", SECRET)
    finally:
        logger.removeHandler(handler)
    text = capsys.readouterr().err
    assert "Logging error" in text and "bol login failed" in text
    assert SECRET not in text and "Y2xpZW50LWlkOmNsaWVudC1zZWNyZXQ" not in text
