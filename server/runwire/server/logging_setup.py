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

import atexit
import collections
import json
import logging
import re
import sys
import threading
import time
from json.encoder import encode_basestring  # the C encoder of json.dumps, ensure_ascii=False
from typing import Any, Callable

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


# The call being served (with request_id, method and principal), or None: set by the layer that serves
# calls (runwire.server.api.calls), which this module sits below.
def _no_call() -> Any:
    return None


current_call: Callable[[], Any] = _no_call


class CallContextFilter(logging.Filter):
    """Adds request_id, method and principal of the call being served (if any) to every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        call = current_call()
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


# An access line whose fixed parts cannot be kept: it is formatted whole.
_WHOLE_LINE = ("", "")


class AccessLog:
    """The access line of every call, written off the event loop in batches.

    A call appends its fields to a queue (no LogRecord, no filters, no formatting); a writer thread wakes
    once per batch, formats the lines in a fixed field order and writes them with one write. The lines
    are the ones the `runwire.calls` logger would write through the configured formatter, and every other
    record written to the same handler first writes the access lines queued before it, so the order of
    lines stays the order of events.
    """

    BATCH_DELAY_SECONDS = 0.02
    # Lines told apart by method, code, principal and reason whose fixed parts are kept.
    MAX_KEPT_PARTS = 10_000
    LOGGER = "runwire.calls"

    def __init__(self, handler: logging.StreamHandler, fmt: str) -> None:
        self.handler = handler
        self._line = self._json_line if fmt == "json" else self._text_line
        self._queue: collections.deque[tuple[Any, ...]] = collections.deque()
        self._scheduled = False
        self._wake = threading.Event()
        self._second = -1
        self._second_text = ""
        self._json_parts: dict[tuple[str, str, str, str], tuple[str, str]] = {}
        self._writer = threading.Thread(target=self._write_batches, name="runwire-access-log", daemon=True)
        self._writer.start()
        atexit.register(self.flush)

    def record(self, method: str, code: str, principal: str, request_id: str, seconds: float, reason: str) -> None:
        self._queue.append((time.time(), method, code, principal, request_id, seconds, reason))
        if not self._scheduled:
            self._scheduled = True
            self._wake.set()

    def _write_batches(self) -> None:
        while True:
            self._wake.wait()
            self._wake.clear()
            time.sleep(self.BATCH_DELAY_SECONDS)  # let a batch gather
            self.flush()

    def flush(self) -> None:
        """Write the queued lines now."""
        with self.handler.lock:  # type: ignore[union-attr]
            self.write_queued()

    def write_queued(self) -> None:
        """Write the queued lines; the caller holds the handler's lock."""
        self._scheduled = False
        queue = self._queue
        if not queue:
            return
        lines = []
        line = self._line
        try:
            while True:
                lines.append(line(*queue.popleft()))
        except IndexError:
            pass
        try:
            stream = self.handler.stream
            stream.write("".join(lines))
            stream.flush()
        except Exception:  # a closed or broken stderr loses the lines, as logging's handlers do
            pass

    @staticmethod
    def _message(method: str, code: str, principal: str, request_id: str, seconds: float, reason: str) -> str:
        failed = f" reason={reason}" if reason else ""
        return redact(f"{method} code={code}{failed} principal={principal} request_id={request_id} duration_ms={seconds * 1000:.2f}")

    def _json_line(self, created: float, method: str, code: str, principal: str, request_id: str, seconds: float, reason: str) -> str:
        # The fields and their order of JsonFormatter for the access record. What depends only on the method,
        # code, principal and reason is escaped once and kept (_json_parts); each line adds its time, request
        # id and duration.
        second = int(created)
        if second != self._second:
            self._second, self._second_text = second, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(created))
        millis = int((created - second) * 1000)
        key = (method, code, principal, reason)
        parts = self._json_parts.get(key)
        if parts is None:
            if len(self._json_parts) >= self.MAX_KEPT_PARTS:
                self._json_parts.clear()
            parts = self._json_parts[key] = self._parts(method, code, principal, reason)
        if parts is _WHOLE_LINE:
            return self._whole_json_line(created, method, code, principal, request_id, seconds, reason)
        head, tail = parts
        quoted_id = encode_basestring(request_id)
        redacted = redact(request_id)
        in_message = quoted_id[1:-1] if redacted is request_id else encode_basestring(redacted)[1:-1]
        ms = seconds * 1000
        return (
            f'{{"time": "{self._second_text}.{millis:03d}Z", {head}{in_message} duration_ms={ms:.2f}", '
            f'"request_id": {quoted_id}, {tail}"duration_ms": {round(ms, 3)!r}}}\n'
        )

    def _parts(self, method: str, code: str, principal: str, reason: str) -> tuple[str, str]:
        """The JSON line around its time, request id and duration, escaped as a whole line would be; or
        _WHOLE_LINE when the message needs redacting, which only the whole message can get right."""
        failed = f" reason={reason}" if reason else ""
        message_head = f"{method} code={code}{failed} principal={principal} request_id="
        if "://" in message_head or redact(message_head) != message_head:
            return _WHOLE_LINE
        head = f'"level": "INFO", "logger": "{self.LOGGER}", "message": "{encode_basestring(message_head)[1:-1]}'
        reason_field = f', "reason": {encode_basestring(reason)}' if reason else ""
        tail = f'"method": {encode_basestring(method)}, "principal": {encode_basestring(principal)}, "code": "{code}"{reason_field}, '
        return head, tail

    def _whole_json_line(
        self, created: float, method: str, code: str, principal: str, request_id: str, seconds: float, reason: str
    ) -> str:
        millis = int((created - int(created)) * 1000)
        message = encode_basestring(self._message(method, code, principal, request_id, seconds, reason))
        failed = f', "reason": {encode_basestring(reason)}' if reason else ""
        return (
            f'{{"time": "{self._second_text}.{millis:03d}Z", "level": "INFO", "logger": "{self.LOGGER}", "message": {message}, '
            f'"request_id": {encode_basestring(request_id)}, "method": {encode_basestring(method)}, '
            f'"principal": {encode_basestring(principal)}, "code": "{code}"{failed}, "duration_ms": {round(seconds * 1000, 3)!r}}}\n'
        )

    def _text_line(self, created: float, method: str, code: str, principal: str, request_id: str, seconds: float, reason: str) -> str:
        # TextFormatter's layout: logging's default asctime (local time, milliseconds after a comma).
        millis = int((created - int(created)) * 1000)
        stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(created))
        return f"{stamp},{millis:03d} INFO {self.LOGGER} {self._message(method, code, principal, request_id, seconds, reason)}\n"


class _OrderedStreamHandler(logging.StreamHandler):
    """A stream handler that writes the queued access lines before each record of its own."""

    access: AccessLog | None = None

    def emit(self, record: logging.LogRecord) -> None:
        if self.access is not None:
            self.access.write_queued()  # emit() runs under the handler's lock
        super().emit(record)


# Set by configure(): where the call interceptor sends access lines. None (the embedded server, tests)
# sends them through the `runwire.calls` logger like any record.
access_log: AccessLog | None = None


def configure(level: str, fmt: str) -> None:
    """Send every log record to stderr in `fmt` (`json` or `text`)."""
    global access_log
    handler = _OrderedStreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    handler.addFilter(CallContextFilter())
    if access_log is None:
        access_log = AccessLog(handler, fmt)
    else:
        access_log.flush()
        access_log.handler = handler
        access_log._line = access_log._json_line if fmt == "json" else access_log._text_line
    handler.access = access_log
    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(level.upper())
    # Records never show the source line, thread or process, so do not collect them (the logging
    # HOWTO's "Optimization" section): it is a good part of the cost of the access line of every call.
    logging._srcfile = None
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

