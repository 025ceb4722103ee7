"""One logging setup for the app's loggers and uvicorn's, and the request id on every line.

`LOG_FORMAT=json` (the default in production) writes one JSON object per line: `time` (ISO
8601, UTC, `Z`), `level`, `logger`, `message`, `requestId` inside a request, `exc` (an
exception's formatted traceback as one string) and any extra fields. `LOG_FORMAT=text` (the
default in development) writes plain lines in one format for uvicorn's and the app's records.

`RequestContext` is the outermost ASGI middleware: it adds the security headers
(`SECURITY_HEADERS`) to every HTTP response, takes a valid `X-Request-Id` or makes one, keeps
it in a context variable (app/requestid.py) every log record reads and every problem body ends
with (`requestId`, added where problems are built), returns it in the response, and writes the
one access line per request
(uvicorn's own access log is off). A 500 is logged once, by the app's `handle_unexpected`:
the exception Starlette re-raises after the response is sent stops here instead of being
logged again by uvicorn."""

from __future__ import annotations

import json
import logging
import logging.config
import random
import re
import time
from datetime import UTC, datetime
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.requestid import REQUEST_ID

_VALID_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
# What every LogRecord has; anything else on a record is an extra field of the JSON line.
_STANDARD = frozenset(
    vars(logging.LogRecord("", 0, "", 0, "", (), None)).keys()
    | {"message", "asctime", "requestId", "color_message", "taskName"}
)
_CHATTY = ("alembic", "fontTools")  # their INFO lines drown the service's own

access_log = logging.getLogger("app.access")


def request_id_from(value: str | None) -> str:
    """The caller's id when it is 1-128 characters of `[A-Za-z0-9._:-]`, else a new one: 128
    random bits as 32 hex digits. They come from `random` (seeded from the OS at start and again
    in every forked child), not `uuid4`: a request id needs to be unique, not secret, and
    `os.urandom`'s system call per request cost ~30 µs under load (issue 8, py-spy: 6-8% of a
    REST read by id)."""
    if value is not None and _VALID_ID.fullmatch(value):
        return value
    return f"{random.getrandbits(128):032x}"


class RequestIdFilter(logging.Filter):
    """Puts the current request's id (or None) on every record as `requestId`."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.requestId = REQUEST_ID.get()
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        stamp = datetime.fromtimestamp(record.created, UTC)
        line: dict[str, Any] = {
            "time": stamp.strftime("%Y-%m-%dT%H:%M:%S.") + f"{stamp.microsecond // 1000:03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = getattr(record, "requestId", None)
        if request_id is not None:
            line["requestId"] = request_id
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        elif record.exc_text:
            line["exc"] = record.exc_text
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        for name, value in vars(record).items():
            if name not in _STANDARD and not name.startswith("_") and name not in line:
                line[name] = value
        return json.dumps(line, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """`2026-01-02 03:04:05,678 INFO app.access [requestId]: message`, one format for all."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s%(rid)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        request_id = getattr(record, "requestId", None)
        record.rid = f" [{request_id}]" if request_id else ""
        return super().format(record)


def dict_config(log_format: str, level: str) -> dict[str, Any]:
    """The `logging.config.dictConfig` of a process; also uvicorn's `log_config`, so every
    server process (`serve --workers N` spawns them) is set up the same way."""
    formatter = JsonFormatter if log_format == "json" else TextFormatter
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"request_id": {"()": RequestIdFilter}},
        "formatters": {"default": {"()": formatter}},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "stream": "ext://sys.stderr",
                "formatter": "default",
                "filters": ["request_id"],
            }
        },
        "root": {"level": level, "handlers": ["stderr"]},
        "loggers": {
            **{
                name: {"handlers": [], "propagate": True}
                for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "uvicorn.asgi")
            },
            **{
                name: {"level": max(logging.WARNING, logging.getLevelName(level))}
                for name in _CHATTY
            },
        },
    }


def configure(log_format: str, level: str) -> None:
    logging.config.dictConfig(dict_config(log_format, level))


SECURITY_HEADERS = (
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
)
"""Every HTTP response carries them unless the app set its own: cheap, and they close whole
classes of browser attacks."""
_SECURITY_NAMES = frozenset(name for name, _ in SECURITY_HEADERS)


def _response_headers(message: Message, request_id: tuple[bytes, bytes]) -> list[Any]:
    """A response's headers with this request's id (replacing any the app set) and the
    security headers it did not set itself, in one pass (issue 8: one middleware's send
    wrapper instead of two)."""
    headers = []
    own: set[bytes] = set()
    for name, value in message.get("headers") or ():
        lower = name.lower()
        if lower == b"x-request-id":
            continue
        if lower in _SECURITY_NAMES:
            own.add(lower)
        headers.append((name, value))
    headers.append(request_id)
    if own:
        headers += [(name, value) for name, value in SECURITY_HEADERS if name not in own]
    else:
        headers += SECURITY_HEADERS
    return headers


class RequestContext:
    """The outermost ASGI middleware (HTTP and WebSocket): see the module's docstring."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        sent = dict(scope.get("headers") or []).get(b"x-request-id")
        request_id = request_id_from(sent.decode("latin-1") if sent is not None else None)
        token = REQUEST_ID.set(request_id)
        header = (b"x-request-id", request_id.encode("ascii"))
        started = time.perf_counter()
        status: int | None = None

        async def send_with_id(message: Message) -> None:
            nonlocal status
            kind = message["type"]
            if kind == "http.response.start":
                message = {**message, "headers": _response_headers(message, header)}
                status = message["status"]
            elif kind == "websocket.accept":
                headers = [
                    (k, v) for k, v in message.get("headers") or [] if k.lower() != b"x-request-id"
                ]
                message = {**message, "headers": [*headers, header]}
                status = 101
            elif kind == "websocket.close" and status is None:
                status = 403
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            if scope["type"] == "http" and status is not None:
                # Starlette re-raises what its error handler has answered and logged already.
                self._access(scope, status, started)
                REQUEST_ID.reset(token)
                return
            self._access(scope, status or 500, started)
            raise  # logged once by uvicorn, still under this request's id
        self._access(scope, status, started)
        REQUEST_ID.reset(token)

    @staticmethod
    def _access(scope: Scope, status: int | None, started: float) -> None:
        duration = round((time.perf_counter() - started) * 1000, 1)
        method = scope.get("method", "WEBSOCKET")
        path = scope.get("path", "")
        access_log.info(
            "%s %s %s %.1f ms",
            method,
            path,
            status,
            duration,
            extra={"method": method, "path": path, "status": status, "durationMs": duration},
        )
