"""The module Dramatiq's worker processes import (``kade worker`` with Redis).

Each worker process builds its own broker, actors and ``Kade`` app from the environment: no
state is shared between processes except Redis and the database.
"""

from __future__ import annotations

import dramatiq

from kade.app import Kade
from kade.batchmarks import batch_marks
from kade.config import Settings
from kade.jobs import declare_actors, make_broker
from kade.logs import configure_logging
from kade.sweeper import send_fresh

settings = Settings()
configure_logging(settings.log_format, settings.log_level)
broker = make_broker(settings)
dramatiq.set_broker(broker)
_app: Kade | None = None


def app() -> Kade:
    global _app
    if _app is None:
        _app = Kade(settings)
        _app.check()  # the schema and the secret key: a wrong key stops the worker at boot
        # what a job creates (a cancellation, an import request) goes out as it commits
        marks = batch_marks(_app, broker)
        _app.db.after_commit_handler = lambda items: send_fresh(actors, items, marks)
    return _app


actors = declare_actors(broker, app, settings)
