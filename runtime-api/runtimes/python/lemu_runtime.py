"""lemu's runtime for `Runtime: python3.x` functions.

lemu starts `python3 bootstrap.py` (which imports this module, so its bytecode is cached) with the Lambda environment (AWS_LAMBDA_RUNTIME_API, _HANDLER,
LAMBDA_TASK_ROOT as the working directory, ...). This file then behaves like AWS's Python runtime
interface client (awslambdaric): it imports the handler once (init), reports import problems to
/runtime/init/error and exits 1, and then loops GET /next -> handler -> POST /response or /error.
The JSON documents it posts have AWS's key order and texts, because callers see them verbatim.

Only the standard library is used. Tracebacks are trimmed up to the first frame that is not in
this runtime's folder (this file or bootstrap.py), as awslambdaric does, so a user's stack trace
starts at the user's code.

Cold start is `python3` plus these imports, so they are the lean ones (importlib, os, sys, time and
the C modules _json and _socket): the Runtime API client is a plain socket (http.client pulls in
the email package; the socket module pulls in enum and selectors), events and results go through
json's C accelerators exactly as json.loads / json.JSONEncoder would drive them (the json package
compiles regular expressions, so it pulls in re), and decimal, logging, traceback and json itself
are imported when first needed (an error path, or a handler that imported json). The root
logger's handler is installed the moment anything imports logging (an import hook), so a
handler's `logging.info()` looks the same as on AWS.
"""

import importlib
import os
import sys
import time

API_VERSION = "/2018-06-01"
ERROR_TYPE_HEADER = "Lambda-Runtime-Function-Error-Type"
PIPELINE_MAX_BODY = 1 << 20  # results up to 1 MiB go out with the next GET /next (RuntimeClient)

# Texts AWS's runtime logs and posts (lambda-reference.md §2.1).
MALFORMED_HANDLER_NAME = "Runtime.MalformedHandlerName"
BUILT_IN_MODULE_CONFLICT = "Runtime.BuiltInModuleConflict"
IMPORT_MODULE_ERROR = "Runtime.ImportModuleError"
USER_CODE_SYNTAX_ERROR = "Runtime.UserCodeSyntaxError"
HANDLER_NOT_FOUND = "Runtime.HandlerNotFound"
MARSHAL_ERROR = "Runtime.MarshalError"
UNMARSHAL_ERROR = "Runtime.UnmarshalError"
CONTEXT_UNMARSHAL_ERROR = "Runtime.LambdaContextUnmarshalError"

# The warning the managed runtime logs before an init error (a log line, not part of any body).
UNHANDLED_EXCEPTION_WARNING = (
    "LAMBDA_WARNING: Unhandled exception. The most likely cause is an issue in the function code. "
    "However, in rare cases, a Lambda runtime update can cause unexpected function behavior. "
    "For functions using managed runtimes, runtime updates can be triggered by a function change, "
    "or can be applied automatically. To determine if the runtime has been updated, check the "
    "runtime version in the INIT_START log entry. If this error correlates with a change in the "
    "runtime version, you may be able to mitigate this error by temporarily rolling back to the "
    "previous runtime version. For more information, see "
    "https://docs.aws.amazon.com/lambda/latest/dg/runtimes-update.html\r"
)

# Multi-line error reports are one log event: lines joined by CR, leading spaces made NBSP.
LOG_LINE_JOIN = "\r"
LOG_INDENT = "\u00a0"

_current_request_id = None


class Fault(Exception):
    """An error the runtime itself names (errorType Runtime.*), with an optional stack trace."""

    def __init__(self, error_type, message, trace=None):
        super().__init__(message)
        self.error_type = error_type
        self.message = message
        self.trace = trace


# ---- output: every write reaches lemu's pipe at once, so it lands in the right invocation ----

class _FlushingStream:
    """Wraps sys.stdout / sys.stderr so each write is flushed (the managed runtime does this)."""

    def __init__(self, stream):
        self._stream = stream

    def __getattr__(self, name):
        return getattr(self._stream, name)

    def write(self, text):
        n = self._stream.write(text)
        self._stream.flush()
        return n

    def writelines(self, lines):
        self._stream.writelines(lines)
        self._stream.flush()


def _setup_streams():
    for name in ("stdout", "stderr"):
        stream = getattr(sys, name)
        try:
            if (stream.encoding or "").lower().replace("-", "") != "utf8":
                stream.reconfigure(encoding="utf-8", errors="backslashreplace")
        except (AttributeError, ValueError):
            pass
        setattr(sys, name, _FlushingStream(stream))


def _setup_logging(logging):
    """Root-logger handler: `[LEVEL]\\t<UTC time>Z\\t<request id>\\t<message>` on stdout."""

    class _RequestIdFilter(logging.Filter):
        def filter(self, record):
            record.aws_request_id = _current_request_id or ""
            return True

    class _StdoutHandler(logging.Handler):
        def emit(self, record):
            try:
                sys.stdout.write(self.format(record))
            except Exception:
                self.handleError(record)

    logging.Formatter.converter = time.gmtime
    handler = _StdoutHandler()
    handler.setFormatter(logging.Formatter(
        "[%(levelname)s]\t%(asctime)s.%(msecs)03dZ\t%(aws_request_id)s\t%(message)s\n",
        "%Y-%m-%dT%H:%M:%S"))
    handler.addFilter(_RequestIdFilter())
    root = logging.getLogger()
    level = (os.environ.get("AWS_LAMBDA_LOG_LEVEL") or "").upper()
    if level in ("DEBUG", "INFO", "WARN", "WARNING", "ERROR", "CRITICAL", "FATAL"):
        root.setLevel({"WARN": "WARNING", "FATAL": "CRITICAL"}.get(level, level))
    root.addHandler(handler)


class _LoggingHook:
    """A meta path finder that lets the first `import logging` (the user's or ours) load the module
    as usual, then installs the handler above before the importer sees it."""

    def find_spec(self, name, path=None, target=None):
        if name != "logging":
            return None
        sys.meta_path.remove(self)
        for finder in sys.meta_path:
            find = getattr(finder, "find_spec", None)
            spec = find(name, path, target) if find else None
            if spec is not None:
                break
        else:
            return None
        loader = spec.loader
        exec_module = getattr(loader, "exec_module", None)
        if exec_module is None:
            return spec

        def exec_and_setup(module):
            exec_module(module)
            _setup_logging(module)

        loader.exec_module = exec_and_setup
        return spec


def _install_logging():
    if "logging" in sys.modules:
        _setup_logging(sys.modules["logging"])
    else:
        sys.meta_path.insert(0, _LoggingHook())


def _indent_to_nbsp(line):
    stripped = line.lstrip(" ")
    return LOG_INDENT * (len(line) - len(stripped)) + stripped


def log_error(error):
    """Log an error document the way the managed runtime does: one line, parts joined by CR."""
    head = "[ERROR]"
    if error.get("errorType"):
        head += " " + error["errorType"]
    if error.get("errorMessage"):
        if error.get("errorType"):
            head += ":"
        head += " " + error["errorMessage"]
    lines = [head]
    trace = error.get("stackTrace")
    if trace is not None:
        lines.append("Traceback (most recent call last):")
        for element in trace:
            if element == "":
                lines.append("")
            else:
                lines.extend(_indent_to_nbsp(part) for part in element.splitlines())
    sys.stdout.write(LOG_LINE_JOIN.join(lines) + "\n")


# ---- JSON: like awslambdaric's encoder (Decimal as a number, NaN allowed, UTF-8 kept on 3.12+) ----
#
# The json package is not imported on the way to the first result: its import compiles regular
# expressions (re is ~5 ms of a cold start). Its C accelerators (_json) are driven here exactly as
# json.loads(bytes or str) and json.JSONEncoder(ensure_ascii=..., allow_nan=True).encode() drive
# them on every Python 3.6-3.13, whose json wrappers around them are the same; the functions below
# keep the wrappers' Python frame depth too, so a recursion limit falls at the same nesting. Once
# json is imported (by the handler, or by an error path here) it is used itself, as before, so a
# handler's patch of json (JSONEncoder.default, say) applies as it always did. Without _json, or
# on a Python whose json may differ, json is used from the start.

_DECIMAL_MARK = "\u0000lemu-decimal-%d:" % os.getpid()


def _keeps_unicode():
    env = os.environ.get("AWS_EXECUTION_ENV", "")
    prefix = "AWS_Lambda_python3."
    if not env.startswith(prefix):
        return True
    try:
        return int(env[len(prefix):]) >= 12
    except ValueError:
        return True


_ENSURE_ASCII = not _keeps_unicode()
_legacy_encoder = None


def _json_encoder():
    """The encoder this runtime has always used, on the json package (imported now if need be)."""
    global _legacy_encoder
    if _legacy_encoder is None:
        import json

        class _Encoder(json.JSONEncoder):
            def default(self, o):
                # Only a handler that imported decimal can return a Decimal: no import otherwise.
                decimal = sys.modules.get("decimal")
                if decimal is not None and isinstance(o, decimal.Decimal):
                    if o.is_nan():
                        return float("nan")
                    # The standard library cannot emit a raw number from default(): mark
                    # it and splice.
                    return _DECIMAL_MARK + str(o)
                return super().default(o)

        _legacy_encoder = _Encoder(ensure_ascii=_ENSURE_ASCII, allow_nan=True)
    return _legacy_encoder


class _ScanContext:
    """The attributes _json.make_scanner reads from a json.JSONDecoder() (json.decoder's)."""

    def __init__(self, parse_constant):
        self.object_hook = None
        self.parse_float = float
        self.parse_int = int
        self.parse_constant = parse_constant
        self.strict = True
        self.object_pairs_hook = None
        self.memo = {}


def _default(o):
    """_Encoder.default (above), for the C encoder without the json package."""
    decimal = sys.modules.get("decimal")
    if decimal is not None and isinstance(o, decimal.Decimal):
        if o.is_nan():
            return float("nan")
        return _DECIMAL_MARK + str(o)
    import json
    return json.JSONEncoder.default(_json_encoder(), o)  # raises json's TypeError, same frame depth


try:
    if not (3, 6) <= sys.version_info[:2] <= (3, 13):
        raise ImportError("json not checked against this Python")
    import _json
    _c_make_encoder = _json.make_encoder
    _c_encode_str = _json.encode_basestring_ascii if _ENSURE_ASCII else _json.encode_basestring
    _c_encode_ascii = _json.encode_basestring_ascii
    # json.decoder's constants: one NaN object for every NaN, as json.loads gives.
    _scan_once = _json.make_scanner(_ScanContext({
        "-Infinity": float("-inf"), "Infinity": float("inf"), "NaN": float("nan")}.__getitem__))
    # The arguments JSONEncoder.iterencode passes (no indent, default separators, no sorting).
    _c_make_encoder({}, _default, _c_encode_str, None, ": ", ", ", False, False, True)
    _TEST_DOC = '{"a": [1, 2.5, null, true, "\\u00e9"]}'
    if (_scan_once(_TEST_DOC, 0) != ({"a": [1, 2.5, None, True, "\u00e9"]}, len(_TEST_DOC))
            or "".join(_c_make_encoder({}, _default, _c_encode_ascii, None, ": ", ", ", False,
                                       False, True)({"a": [1, 2.5, None, True, "\u00e9"]}, 0))
            != _TEST_DOC):
        raise ImportError("_json does not behave as expected")
except Exception:
    _scan_once = None

_SLOW = object()  # _fast_loads: let json.loads decide


def _fast_loads(s):
    """json.loads(s) for the usual input (UTF-8 bytes or str, valid JSON), else _SLOW; called
    where json.loads is (the same frame depth)."""
    if isinstance(s, str):
        if s.startswith("\ufeff"):
            return _SLOW
    elif isinstance(s, (bytes, bytearray)):
        # json.detect_encoding says utf-8 when there is no BOM and no NUL in the first 2 bytes.
        if s[:1] in (b"\x00", b"\xef", b"\xfe", b"\xff") or s[1:2] == b"\x00":
            return _SLOW
        try:
            s = s.decode("utf-8", "surrogatepass")
        except Exception:
            return _SLOW
    else:
        return _SLOW
    return _fast_decode(s)


def _fast_decode(s):
    """json.JSONDecoder.decode: whitespace, one value, whitespace, the end."""
    n = len(s)
    idx = 0
    while idx < n and s[idx] in " \t\n\r":
        idx += 1
    result = _fast_raw_decode(s, idx)
    if result is _SLOW:
        return result
    obj, end = result
    while end < n and s[end] in " \t\n\r":
        end += 1
    return obj if end == n else _SLOW


def _fast_raw_decode(s, idx):
    try:
        return _scan_once(s, idx)
    except Exception:
        return _SLOW  # json.loads raises the error (JSONDecodeError, RecursionError, ...) itself


def _encode(obj):
    """json.JSONEncoder.encode for _Encoder (ensure_ascii per AWS_EXECUTION_ENV, allow_nan)."""
    if isinstance(obj, str):
        return _c_encode_str(obj)
    chunks = _iterencode(obj)
    if not isinstance(chunks, (list, tuple)):
        chunks = list(chunks)
    return "".join(chunks)


def _iterencode(obj):
    return _c_make_encoder({}, _default, _c_encode_str, None, ": ", ", ", False, False, True)(obj, 0)


def to_json(obj):
    if _scan_once is None or "json" in sys.modules:
        text = _json_encoder().encode(obj)
    else:
        text = _encode(obj)
    mark = _DECIMAL_MARK_JSON
    if mark in text:
        out, pos = [], 0
        while True:
            start = text.find(mark, pos)
            if start < 0:
                out.append(text[pos:])
                break
            end = text.index('"', start + len(mark))
            out.append(text[pos:start])
            out.append(text[start + len(mark):end])
            pos = end + 1
        text = "".join(out)
    return text


# The marker as it appears inside a JSON string (json.dumps(_DECIMAL_MARK)[:-1]).
_DECIMAL_MARK_JSON = (_c_encode_ascii(_DECIMAL_MARK) if _scan_once is not None
                      else __import__("json").dumps(_DECIMAL_MARK))[:-1]


def error_document(message, error_type, trace, request_id=None):
    """The body of /error and /init/error; key order matters (callers see it verbatim)."""
    return {
        "errorMessage": message if message else "",
        "errorType": error_type if error_type else "",
        "requestId": request_id if request_id is not None else "",
        "stackTrace": trace if trace else [],
    }


_RUNTIME_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep


def _user_trace(tb):
    """Formatted frames of tb, starting at the first frame outside this runtime's folder."""
    import traceback
    frames = [(f.filename, f.lineno, f.name, f.line) for f in traceback.extract_tb(tb)]
    for i, frame in enumerate(frames):
        if not frame[0].startswith(_RUNTIME_DIR):
            frames = frames[i:]
            break
    return traceback.format_list(frames)


def exception_document(exc, request_id=None):
    return error_document(str(exc), type(exc).__name__, _user_trace(exc.__traceback__), request_id)


# ---- the Runtime API client ----

try:
    import _socket
except ImportError:  # a Python without it: the socket module (which needs it too) does the rest
    _socket = None


def _connect(host, port):
    """socket.create_connection((host, port)) with TCP_NODELAY, on _socket's socket object (the
    socket module's subclass only adds enums, makefile and a repr, none of them used here)."""
    if _socket is None:
        import socket
        sock = socket.create_connection((host, port))
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock
    # getaddrinfo encodes a str host with the idna codec, whose import pulls in re and stringprep
    # (~3 ms); for an ASCII name that codec returns the name's bytes after checking the labels'
    # lengths, so such a name goes as those bytes (any other as it is, for the codec's own error).
    labels = host.split(".")
    if (all(ord(c) < 128 for c in host) and all(0 < len(l) < 64 for l in labels[:-1])
            and len(labels[-1]) < 64):
        host = host.encode("ascii")
    sock = error = None
    for af, socktype, proto, _, address in _socket.getaddrinfo(host, port, 0, _socket.SOCK_STREAM):
        try:
            sock = _socket.socket(af, socktype, proto)
            sock.connect(address)
            break
        except OSError as e:
            error = e  # create_connection raises the last address's error
            if sock is not None:
                sock.close()
            sock = None
    if sock is None:
        if error is not None:
            raise error
        raise OSError("getaddrinfo returns an empty list")
    sock.setsockopt(_socket.IPPROTO_TCP, _socket.TCP_NODELAY, 1)
    return sock


class RuntimeClient:
    """One keep-alive HTTP/1.1 connection to lemu's Runtime API for this environment, on a plain
    socket: four fixed exchanges do not need http.client (its import and its per-request work cost
    more than the rest of the shim). The two exchanges of every warm invoke (GET /next, POST
    /response) are one sendall and, lemu's answers being small, one recv each; their request bytes
    are built once (GET /next) or with one format (POST /response), and response headers land in a
    plain dict by lower-cased name.

    A result of at most PIPELINE_MAX_BODY bytes is posted with the next GET /next in the same
    write (HTTP/1.1 pipelining; lemu answers the two in order): one wake-up of lemu and one
    blocking round trip fewer per warm invoke. Only a result lemu cannot refuse is sent that way:
    the size limit is far above it, so the runtime never has a GET /next outstanding after a
    refused POST (it would exit with an invocation already promised to it)."""

    def __init__(self, address):
        host, _, port = address.rpartition(":")
        self.host = host.strip("[]") or "127.0.0.1"
        self.port = int(port)
        self.sock = None
        self.buf = b""
        self.user_agent = "lemu-python-runtime/%d.%d.%d" % sys.version_info[:3]
        # The header lines every request carries after its request line (see _request).
        self._fixed_lines = "\r\nHost: %s:%d\r\nAccept-Encoding: identity\r\nUser-Agent: %s" % (
            self.host, self.port, self.user_agent)
        self._next_request = self._request("GET", "/runtime/invocation/next")
        self._next_sent = False  # a pipelined GET /next awaits its answer on self.sock

    def _close(self):
        if self.sock is not None:
            try:
                self.sock.close()
            except OSError:
                pass
        self.sock = None
        self.buf = b""
        self._next_sent = False  # a request sent on a closed connection is never answered

    def _fill(self):
        data = self.sock.recv(65536)
        if not data:
            raise ConnectionError("Runtime API connection closed")
        self.buf += data

    def _read_response(self):
        """(status, headers by lower-cased name, body, whether lemu closes the connection)."""
        end = self.buf.find(b"\r\n\r\n")
        while end < 0:
            self._fill()
            end = self.buf.find(b"\r\n\r\n")
        buf = self.buf
        head = buf[:end].decode("iso-8859-1").split("\r\n")
        buf = buf[end + 4:]
        parts = head[0].split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
            self.buf = buf
            raise ConnectionError("bad status line from the Runtime API: %r" % head[0])
        status = int(parts[1])
        headers = {}
        for line in head[1:]:
            name, sep, value = line.partition(":")
            if sep:
                headers[name.strip().lower()] = value.strip()
        if "chunked" in headers.get("transfer-encoding", "").lower():
            self.buf = buf
            body = self._read_chunked()
        else:
            length = int(headers.get("content-length") or 0)
            if len(buf) == length:  # the usual case: the whole answer came in one recv
                body, self.buf = buf, b""
            else:
                self.buf = buf
                while len(self.buf) < length:
                    self._fill()
                body, self.buf = self.buf[:length], self.buf[length:]
        will_close = headers.get("connection", "").lower() == "close" or parts[0] == "HTTP/1.0"
        return status, headers, body, will_close

    def _read_chunked(self):
        out = []
        while True:
            while b"\r\n" not in self.buf:
                self._fill()
            line, self.buf = self.buf.split(b"\r\n", 1)
            size = int(line.split(b";", 1)[0].strip() or b"0", 16)
            if size == 0:
                while True:  # trailers up to the empty line
                    while b"\r\n" not in self.buf:
                        self._fill()
                    line, self.buf = self.buf.split(b"\r\n", 1)
                    if not line:
                        return b"".join(out)
            while len(self.buf) < size + 2:
                self._fill()
            out.append(self.buf[:size])
            self.buf = self.buf[size + 2:]

    def _request(self, method, path, body=None, headers=None):
        """The bytes of one request: the request line, Host, Accept-Encoding, User-Agent,
        Content-Length when there is a body, the given headers, then the body."""
        head = "%s %s%s HTTP/1.1%s" % (method, API_VERSION, path, self._fixed_lines)
        if body is not None:
            head += "\r\nContent-Length: %d" % len(body)
        if headers:
            head += "".join("\r\n%s: %s" % item for item in headers.items())
        request = (head + "\r\n\r\n").encode("iso-8859-1")
        if body:
            request += body
        return request

    def _exchange(self, request):
        """Send one request's bytes and read the answer: (status, headers, body)."""
        for attempt in (0, 1):
            reused = self.sock is not None
            try:
                if self.sock is None:
                    self.sock = _connect(self.host, self.port)
                self.sock.sendall(request)
                status, resp_headers, data, will_close = self._read_response()
            except (OSError, ValueError):
                self._close()
                if reused and attempt == 0:
                    continue  # lemu closed an idle keep-alive connection: one fresh try
                raise
            if will_close:
                self._close()
            return status, resp_headers, data
        raise AssertionError("unreachable")

    def _post(self, path, body, headers, request=None):
        if request is None:
            request = self._request("POST", path, body, headers)
        status, _, data = self._exchange(request)
        if status != 202:
            raise RuntimeError("Request to Lambda Runtime '%s' endpoint failed. Reason: '%d'. "
                               "Response body: '%s'" % (path, status, data[:512].decode("utf-8", "replace")))

    def next_invocation(self):
        """(headers by lower-cased name, body) of the next invocation."""
        status = None
        if self._next_sent:  # sent with the last POST /response: only its answer is left to read
            self._next_sent = False
            try:
                status, headers, body, will_close = self._read_response()
            except (OSError, ValueError):
                self._close()  # closed before answering: ask again on a new connection
            else:
                if will_close:
                    self._close()
        if status is None:
            status, headers, body = self._exchange(self._next_request)
        if status != 200:
            raise RuntimeError("Failed to get next invocation: HTTP %d %s" % (status, body[:512]))
        return headers, body

    def post_response(self, request_id, body, content_type):
        path = "/runtime/invocation/%s/response" % request_id
        # _request's bytes for headers {"Content-Type": content_type}, in one format.
        request = ("POST %s%s HTTP/1.1%s\r\nContent-Length: %d\r\nContent-Type: %s\r\n\r\n" % (
            API_VERSION, path, self._fixed_lines, len(body), content_type)).encode("iso-8859-1")
        if body:
            request += body
        if len(body) > PIPELINE_MAX_BODY:
            self._post(path, body, None, request)
            return
        self._post(path, body, None, request + self._next_request)
        # The GET /next went out with it; a connection closed since (Connection: close, a retry
        # on a fresh socket re-sent both) decides whether its answer is still to come.
        self._next_sent = self.sock is not None

    def post_error(self, request_id, error):
        self._post("/runtime/invocation/%s/error" % request_id, to_json(error).encode("utf-8"),
                   {"Content-Type": "application/json", ERROR_TYPE_HEADER: error["errorType"]})

    def post_init_error(self, error):
        self._post("/runtime/init/error", to_json(error).encode("utf-8"),
                   {"Content-Type": "application/json", ERROR_TYPE_HEADER: error["errorType"]})


# ---- the context object handed to the handler ----

class CognitoIdentity:
    __slots__ = ["cognito_identity_id", "cognito_identity_pool_id"]

    def __repr__(self):
        return "CognitoIdentity([cognito_identity_id=%s,cognito_identity_pool_id=%s])" % (
            self.cognito_identity_id, self.cognito_identity_pool_id)


class Client:
    __slots__ = ["installation_id", "app_title", "app_version_name", "app_version_code",
                 "app_package_name"]

    def __repr__(self):
        return "Client([%s])" % ",".join("%s=%s" % (k, getattr(self, k)) for k in self.__slots__)


class ClientContext:
    __slots__ = ["custom", "env", "client"]

    def __repr__(self):
        return "ClientContext([custom=%s,env=%s,client=%s])" % (self.custom, self.env, self.client)


def _object_from(cls, values):
    if values is None:
        return None
    obj = cls()
    for field in cls.__slots__:
        setattr(obj, field, values.get(field) if isinstance(values, dict) else None)
    return obj


class LambdaContext:
    """Like awslambdaric's: values from the environment are strings (memory_limit_in_mb too)."""

    def __init__(self, request_id, client_context, cognito_identity, deadline_ms,
                 invoked_function_arn, tenant_id=None):
        # Read on every invoke, as awslambdaric does: a handler's change to these variables shows
        # in the next invoke's context.
        getenv = os.environ.get
        self.aws_request_id = request_id
        self.log_group_name = getenv("AWS_LAMBDA_LOG_GROUP_NAME")
        self.log_stream_name = getenv("AWS_LAMBDA_LOG_STREAM_NAME")
        self.function_name = getenv("AWS_LAMBDA_FUNCTION_NAME")
        self.memory_limit_in_mb = getenv("AWS_LAMBDA_FUNCTION_MEMORY_SIZE")
        self.function_version = getenv("AWS_LAMBDA_FUNCTION_VERSION")
        self.invoked_function_arn = invoked_function_arn
        self.tenant_id = tenant_id
        if client_context is None:
            self.client_context = None
        else:
            self.client_context = _object_from(ClientContext, client_context)
            self.client_context.client = _object_from(Client, self.client_context.client)
        self.identity = CognitoIdentity()
        if cognito_identity is None:
            self.identity.cognito_identity_id = None
            self.identity.cognito_identity_pool_id = None
        else:
            # A header that is JSON but not an object fails on these very lines, as it always has
            # (the runtime's own frames are the whole trace then, so their text is what callers see).
            self.identity.cognito_identity_id = cognito_identity.get("cognitoIdentityId")
            self.identity.cognito_identity_pool_id = cognito_identity.get("cognitoIdentityPoolId")
        self._epoch_deadline_time_in_ms = deadline_ms

    def get_remaining_time_in_millis(self):
        remaining = self._epoch_deadline_time_in_ms - int(time.time() * 1000)
        return remaining if remaining > 0 else 0

    def log(self, msg):
        sys.stdout.write(str(msg))

    def __repr__(self):
        return ("LambdaContext([aws_request_id=%s,log_group_name=%s,log_stream_name=%s,"
                "function_name=%s,memory_limit_in_mb=%s,function_version=%s,"
                "invoked_function_arn=%s,client_context=%s,identity=%s,tenant_id=%s])" % (
                    self.aws_request_id, self.log_group_name, self.log_stream_name,
                    self.function_name, self.memory_limit_in_mb, self.function_version,
                    self.invoked_function_arn, self.client_context, self.identity, self.tenant_id))


def _parse_json_header(value, what):
    try:
        if _scan_once is not None and "json" not in sys.modules:
            obj = _fast_loads(value)
            if obj is not _SLOW:
                return obj
        import json
        return json.loads(value)
    except Exception as e:
        raise Fault(CONTEXT_UNMARSHAL_ERROR, "Unable to parse %s JSON: %s" % (what, e))


# ---- init: find the handler ----

def load_handler(handler):
    """Import the module named by `file.func` / `dir/sub/file.func` and return the function.
    Raises Fault for the failures AWS names; any other exception escapes unchanged."""
    try:
        module_name, func_name = handler.rsplit(".", 1)
    except ValueError as e:
        raise Fault(MALFORMED_HANDLER_NAME, "Bad handler '%s': %s" % (handler, e))
    try:
        if module_name.split(".")[0] in sys.builtin_module_names:
            raise Fault(BUILT_IN_MODULE_CONFLICT,
                        "Cannot use built-in module %s as a handler module" % module_name)
        module = importlib.import_module(module_name.replace("/", "."))
    except ImportError as e:
        raise Fault(IMPORT_MODULE_ERROR, "Unable to import module '%s': %s" % (module_name, e))
    except SyntaxError as e:
        trace = ['  File "%s" Line %s\n    %s' % (e.filename, e.lineno, e.text)]
        raise Fault(USER_CODE_SYNTAX_ERROR, "Syntax error in module '%s': %s" % (module_name, e),
                    trace)
    try:
        return getattr(module, func_name)
    except AttributeError:
        raise Fault(HANDLER_NOT_FOUND,
                    "Handler '%s' missing on module '%s'" % (func_name, module_name))


# ---- one invocation ----

def _event_from(body, content_type):
    if content_type is not None and content_type.split(";")[0].strip() != "application/json":
        return body
    try:
        if _scan_once is not None and "json" not in sys.modules:
            event = _fast_loads(body)
            if event is not _SLOW:
                return event
        import json
        return json.loads(body)
    except Exception as e:
        raise Fault(UNMARSHAL_ERROR, "Unable to unmarshal input: %s" % e)


def _marshal(result):
    if isinstance(result, bytes):
        return result, "application/unknown"
    try:
        return to_json(result).encode("utf-8"), "application/json"
    except Exception as e:
        raise Fault(MARSHAL_ERROR, "Unable to marshal response: %s" % e)


def handle_invocation(client, handler, headers, body):
    """One invocation; headers is the GET /next answer's, by lower-cased name."""
    global _current_request_id
    request_id = headers.get("lambda-runtime-aws-request-id")
    _current_request_id = request_id
    trace_id = headers.get("lambda-runtime-trace-id")
    if trace_id:
        os.environ["_X_AMZN_TRACE_ID"] = trace_id
    else:
        os.environ.pop("_X_AMZN_TRACE_ID", None)

    error = None
    try:
        client_context = headers.get("lambda-runtime-client-context")
        identity = headers.get("lambda-runtime-cognito-identity")
        try:
            deadline_ms = int(headers.get("lambda-runtime-deadline-ms") or 0)
        except ValueError:
            deadline_ms = 0
        context = LambdaContext(
            request_id,
            _parse_json_header(client_context, "Client Context") if client_context else None,
            _parse_json_header(identity, "Cognito Identity") if identity else None,
            deadline_ms,
            headers.get("lambda-runtime-invoked-function-arn"),
            headers.get("lambda-runtime-aws-tenant-id"))
        event = _event_from(body, headers.get("content-type"))
        result, content_type = _marshal(handler(event, context))
    except Fault as f:
        error = error_document(f.message, f.error_type, f.trace, request_id)
    except Exception as e:
        error = exception_document(e, request_id)

    if error is not None:
        log_error(error)
        client.post_error(request_id, error)
    else:
        client.post_response(request_id, result, content_type)


# What importing json and socket adds to sys.modules (top-level names, Python 3.6-3.13): this
# runtime imported both at start until it used their C modules instead.
_JSON_SOCKET_MODULES = frozenset((
    "_collections", "_functools", "_heapq", "_locale", "_operator", "_sre", "array", "collections",
    "copyreg", "enum", "errno", "functools", "heapq", "itertools", "json", "keyword", "math",
    "operator", "re", "reprlib", "select", "selectors", "socket", "sre_compile", "sre_constants",
    "sre_parse", "types"))


def _import_shadowed(task_root):
    """A function folder holding a module named like one of those would shadow the standard one
    once the folder leads sys.path (for the handler, and for json imported later here): import
    json and socket now, from the standard library, as this runtime always did then."""
    try:
        names = os.listdir(task_root)
    except OSError:
        return
    for name in names:
        if name.partition(".")[0] in _JSON_SOCKET_MODULES:
            import json
            import socket
            return


def main():
    _setup_streams()
    task_root = os.environ.get("LAMBDA_TASK_ROOT") or os.getcwd()
    _import_shadowed(task_root)
    # sys.path[0] is the runtime's folder (bootstrap.py's); the function's code takes its place, as on AWS.
    if sys.path and os.path.abspath(sys.path[0] or ".") == os.path.dirname(os.path.abspath(__file__)):
        sys.path.pop(0)
    sys.path.insert(0, task_root)
    # /var/task is read-only on AWS, so no __pycache__ ever appears next to the user's code;
    # lemu runs the user's own folder, which must stay as it was too.
    sys.dont_write_bytecode = True

    api = os.environ.get("AWS_LAMBDA_RUNTIME_API")
    if not api:
        sys.stderr.write("lemu python runtime: AWS_LAMBDA_RUNTIME_API is not set\n")
        sys.exit(1)
    client = RuntimeClient(api)

    error = None
    try:
        _install_logging()
        handler = load_handler(os.environ.get("_HANDLER", ""))
    except Fault as f:
        error = error_document(f.message, f.error_type, f.trace)
    except Exception as e:
        error = exception_document(e)
    if error is not None:
        import logging
        logging.warning(UNHANDLED_EXCEPTION_WARNING)
        log_error(error)
        client.post_init_error(error)
        sys.exit(1)

    while True:
        headers, body = client.next_invocation()
        handle_invocation(client, handler, headers, body)


if __name__ == "__main__":  # bootstrap.py imports this module; running it directly works too
    main()
