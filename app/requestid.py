"""The current request's id, for every log line and problem body of that request.

Set by the outermost middleware (app/logs.py); read wherever a request's output is built."""

from __future__ import annotations

import contextvars

REQUEST_ID: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)
