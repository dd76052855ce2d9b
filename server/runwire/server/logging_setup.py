"""Log output: one JSON object per line (or plain text), with the call's request id, method and principal.

Every record logged while a call is being served carries `request_id`,
`method` and `principal`, taken from the call context (api/calls.py), so the
access line and anything a servicer or the domain logs can be joined. Secrets
never reach the output: the server logs no metadata, message contents or
file contents, and as a last line of defence the formatter masks anything
shaped like an API key, a bearer credential or a JWT, and credentials inside
URLs (user info, query values of parameters named like secrets).
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
from typing import Any

# Extra attributes that the JSON formatter copies from a record when present.
FIELDS = ("request_id", "method", "principal", "code", "reason", "duration_ms", "tier", "auth", "peer")

_SECRETS = re.compile(
    r"rw_[A-Za-z0-9]{20,}"  # API keys
    r"|(?i:bearer)\s+[A-Za-z0-9._~+/=-]+"  # bearer credentials
    r"|eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*"  # JWTs
)


# Credentials inside URLs, whoever logs them (an HTTP client's request line, an error quoting a URL):
# the user info, and the values of query parameters whose names say they are secrets.
_URL_USERINFO = re.compile(r"(?<=://)[^/\s@?#'\"]+@")
_URL_SECRET_PARAM = re.compile(
    r"(?i)([?&;](?:[a-z0-9_.-]*(?:token|key|secret|password|passwd|pwd|sig|signature|credential|auth|session|code)"
    r"[a-z0-9_.-]*)=)[^&#\s'\"]+"
)


def redact(text: str) -> str:
    if "://" in text:
        text = _URL_USERINFO.sub("[REDACTED]@", text)
        if "=" in text:
            text = _URL_SECRET_PARAM.sub(r"\1[REDACTED]", text)
    if "rw_" not in text and "eyJ" not in text and "earer" not in text and "EARER" not in text:
        return text
    return _SECRETS.sub("[REDACTED]", text)


class CallContextFilter(logging.Filter):
    """Adds request_id, method and principal of the call being served (if any) to every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        from runwire.server.api.calls import current_call_or_none

        call = current_call_or_none()
        if call is not None:
            if not hasattr(record, "request_id"):
                record.request_id = call.request_id
            if not hasattr(record, "method"):
                record.method = call.method
            if not hasattr(record, "principal"):
                record.principal = call.principal.id
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": redact(record.getMessage()),
        }
        for name in FIELDS:
            value = record.__dict__.get(name)
            if value is not None:
                entry[name] = value
        if record.exc_info:
            entry["exception"] = redact(self.formatException(record.exc_info))
        return json.dumps(entry, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        request_id = record.__dict__.get("request_id")
        if request_id and "request_id=" not in text:
            text = f"{text} request_id={request_id}"
        return redact(text)


def configure(level: str, fmt: str) -> None:
    """Send every log record to stderr in `fmt` (`json` or `text`)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    handler.addFilter(CallContextFilter())
    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(level.upper())
    # Records never show the source line, thread or process, so do not collect them (the logging
    # HOWTO's "Optimization" section): it is a good part of the cost of the access line of every call.
    logging._srcfile = None  # type: ignore[attr-defined]
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    # Alembic narrates every migration step at INFO; one line per start is enough.
    logging.getLogger("alembic").setLevel(logging.WARNING)
    demote_chatty_loggers()


class _Demoted(logging.Filter):
    """Records of a chatty library logged at DEBUG instead of INFO (and dropped unless DEBUG is on)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno == logging.INFO:
            record.levelno, record.levelname = logging.DEBUG, "DEBUG"
            return logging.getLogger().isEnabledFor(logging.DEBUG)
        return True


# HTTP clients that log every request at INFO: the MCP SDK's (a ping every 15 s per MCP server) and httpx.
CHATTY_LOGGERS = ("httpx", "httpx2")


def demote_chatty_loggers() -> None:
    for name in CHATTY_LOGGERS:
        chatty = logging.getLogger(name)
        if not any(isinstance(f, _Demoted) for f in chatty.filters):
            chatty.addFilter(_Demoted())

