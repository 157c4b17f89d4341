/*
 * lemu's runtime for `Runtime: nodejs18.x | nodejs20.x | nodejs22.x` functions.
 *
 * lemu starts `node <this file>` with the Lambda environment (AWS_LAMBDA_RUNTIME_API, _HANDLER,
 * LAMBDA_TASK_ROOT as the working directory, ...). This file then behaves like AWS's Node.js
 * runtime interface client: it loads the handler (CommonJS through require(), ES modules --
 * `.mjs`, or `.js` under a package.json with "type": "module" -- through import()), reports load
 * failures to /runtime/init/error and exits, and then loops GET /next -> handler -> POST
 * /response or /error. Async handlers, promise-returning handlers and callback handlers
 * `(event, context, callback)` with context.callbackWaitsForEmptyEventLoop are supported, and
 * console.* is patched to `<ISO time>\t<request id>\t<LEVEL>\t<message>` lines on stdout.
 *
 * Only Node's built-in modules are used. This is one file on purpose: a module that cannot be
 * found is reported with `Require stack:\n- <this file>`, as AWS's runtime reports its own.
 */

'use strict';

const fs = require('fs');
const net = require('net');
const path = require('path');
const util = require('util');
const { pathToFileURL } = require('url');

const ERROR_TYPE_HEADER = 'Lambda-Runtime-Function-Error-Type';
const API_PREFIX = '/2018-06-01';

/* ------------------------------------------------------------------------------------------ */
/* Errors: the Runtime.* types AWS names, and the JSON document posted for any thrown value.  */

class ImportModuleError extends Error {}
class HandlerNotFound extends Error {}
class MalformedHandlerName extends Error {}
class UserCodeSyntaxError extends Error {}
class NodeJsExit extends Error {
  constructor() {
    super(
      'The Lambda runtime client detected an unexpected Node.js exit code. This is most ' +
        'commonly caused by a Promise that was never settled. For more information, see ' +
        'https://nodejs.org/docs/latest/api/process.html#exit-codes',
    );
  }
}
class UnhandledPromiseRejection extends Error {
  constructor(reason, promise) {
    super(reason);
    this.reason = reason;
    this.promise = promise;
  }
}
for (const cls of [ImportModuleError, HandlerNotFound, MalformedHandlerName,
  UserCodeSyntaxError, NodeJsExit, UnhandledPromiseRejection]) {
  cls.prototype.name = `Runtime.${cls.name}`;
}

function looksLikeError(v) {
  return Boolean(v && typeof v.name === 'string' && v.name && typeof v.message === 'string' &&
    v.message && typeof v.stack === 'string' && v.stack);
}

/* The body of /error and /init/error: {errorType, errorMessage, trace}. A thrown non-Error
 * becomes {errorType: typeof value, errorMessage: String(value), trace: []}. */
function errorDocument(error) {
  try {
    if (util.types.isNativeError(error) || looksLikeError(error)) {
      return {
        errorType: error.name?.replaceAll('\x7F', '%7F'),
        errorMessage: error.message?.replaceAll('\x7F', '%7F'),
        trace: error.stack.replaceAll('\x7F', '%7F').split('\n'),
      };
    }
    return { errorType: typeof error, errorMessage: error.toString(), trace: [] };
  } catch (_) {
    return {
      errorType: 'handled',
      errorMessage:
        'callback called with Error argument, but there was a problem while retrieving one ' +
        'or more of its message, name, and stack',
    };
  }
}

function asError(value) {
  return value instanceof Error ? value : new Error(value);
}

/* The form used in log lines: a tab, then JSON with name/message/code/stack made visible. */
function formatForLog(error) {
  const expand = (_key, v) => {
    if (!(v instanceof Error)) return v;
    const out = Object.assign({ errorType: v.name, errorMessage: v.message, code: v.code }, v);
    if (typeof v.stack === 'string') out.stack = v.stack.split('\n');
    return out;
  };
  try {
    return '\t' + JSON.stringify(error, expand);
  } catch (_) {
    return '\t' + JSON.stringify(errorDocument(error));
  }
}

/* ------------------------------------------------------------------------------------------ */
/* Logging: console.* writes one line per call; newlines inside a message become CR so the    */
/* whole message stays one log event.                                                         */

const REQUEST_ID = Symbol.for('aws.lambda.runtime.requestId');
const LEVELS = [
  ['TRACE', 'trace'], ['DEBUG', 'debug'], ['INFO', 'info'], ['WARN', 'warn'],
  ['ERROR', 'error'], ['FATAL', 'fatal'],
];

function writeLogLine(level, message, params) {
  const text = `${new Date().toISOString()}\t${global[REQUEST_ID]}\t${level}\t` +
    util.format(message, ...params);
  process.stdout.write(text.replace(/\n/g, '\r') + '\n');
}

function patchConsole() {
  const wanted = String(process.env.AWS_LAMBDA_LOG_LEVEL || 'TRACE').toUpperCase();
  let minimum = LEVELS.findIndex(([name]) => name === wanted);
  if (minimum < 0) minimum = 0;
  LEVELS.forEach(([name, method], i) => {
    console[method] = i >= minimum || name === 'FATAL'
      ? (message, ...params) => writeLogLine(name, message, params)
      : () => {};
  });
  console.log = console.info;
}

function logError(label, error) {
  console.error(label, formatForLog(asError(error)));
}

/* ------------------------------------------------------------------------------------------ */
/* The Runtime API client: one keep-alive HTTP/1.1 connection on a plain net.Socket, one      */
/* exchange at a time as with http.Agent({maxSockets: 1}), but for the pipelined pair below.  */
/* http's machinery (an Agent, a ClientRequest and an IncomingMessage per exchange, llhttp)   */
/* cost more CPU per warm invoke than the rest of the shim; four fixed exchanges need none.   */
/*                                                                                            */
/* The request bytes are http.request's: the request line, the given headers, Content-Length  */
/* when there is a body, Host, `Connection: keep-alive`, then the body, all one UTF-8 string  */
/* (as http writes a string body with its head); a header value http refuses                  */
/* (ERR_INVALID_CHAR) is refused with http's message. Answers are framed by Content-Length,   */
/* chunked encoding or the connection's end; 1xx answers are skipped; `Connection: close` (or */
/* HTTP/1.0) ends the connection after its answer.                                            */
/*                                                                                            */
/* The event loop: the socket is ref()'d while a request is outstanding (a GET /next waiting  */
/* for work keeps the process alive, as does a POST awaiting 202) and unref()'d when none is, */
/* so an idle connection never holds off 'beforeExit' (callbackWaitsForEmptyEventLoop, a      */
/* handler that never answers, a promise never settled).                                      */
/*                                                                                            */
/* A POST /response of at most PIPELINE_MAX_BODY bytes goes out in one write with the next    */
/* GET /next (HTTP/1.1 pipelining; lemu answers the two in order): one wake-up of lemu and    */
/* one round trip fewer per warm invoke. lemu cannot refuse a result that small (its size     */
/* limit is far above), and whatever the POST's answer the runtime's next request is that GET */
/* /next (post() carries on after a non-202). The pair is queued one loop turn later          */
/* (setImmediate), after this turn's unhandled rejections are reported: a request issued in   */
/* between (the /error of the 'uncaughtException' / 'unhandledRejection' handlers, which then */
/* exit) turns the pipelining off, so it goes out before any GET /next, as it did. An error   */
/* thrown later, before the POST's answer, waits behind the GET /next, as one after the       */
/* answer always did.                                                                         */

const PIPELINE_MAX_BODY = 1 << 20;
const INVALID_HEADER_CHAR = /[^\t\x20-\x7e\x80-\xff]/; // http's checkInvalidHeaderChar
const MAX_HEAD_BYTES = 16 * 1024; // http's --max-http-header-size default
// Response headers whose repeats http drops (the first counts); others are joined with ', '.
const SINGLE_HEADERS = new Set(['age', 'authorization', 'content-length', 'content-type',
  'etag', 'expires', 'from', 'host', 'if-modified-since', 'if-unmodified-since',
  'last-modified', 'location', 'max-forwards', 'proxy-authorization', 'referer',
  'retry-after', 'server', 'user-agent']);

function codedError(message, code) {
  const err = new Error(message);
  err.code = code;
  return err;
}

class RuntimeApiClient {
  constructor(address) {
    const colon = address.lastIndexOf(':');
    this.hostname = address.slice(0, colon).replace(/^\[|\]$/g, '') || '127.0.0.1';
    this.port = parseInt(address.slice(colon + 1), 10) || 80; // http.request's fallback
    const host = this.hostname.includes(':') ? `[${this.hostname}]` : this.hostname;
    this.fixedLines = `Host: ${this.port === 80 ? host : `${host}:${this.port}`}\r\n` +
      'Connection: keep-alive\r\n\r\n';
    this.nextBytes = this.encode('GET', '/runtime/invocation/next');
    this.socket = null;
    this.socketUsed = false; // the socket carried a request before (http's req.reusedSocket)
    this.sent = []; // requests written on this.socket, oldest first, awaiting their answers
    this.buf = null; // bytes received and not yet consumed
    this.need = 0; // a long answer's length in bytes: its later chunks are gathered in parts
    this.parts = null;
    this.have = 0;
    this.queue = []; // units of requests waiting for the connection, written one at a time
    this.deferred = null; // requests to queue at the next turn (a POST /response to pipeline)
    this.nextAnswer = null; // the answer to a GET /next written with the last POST /response
  }

  /* The bytes of one request (throws what http.request would for a bad header value). */
  encode(method, urlPath, body, headers) {
    let head = `${method} ${API_PREFIX}${urlPath} HTTP/1.1\r\n`;
    if (headers) {
      for (const name of Object.keys(headers)) {
        const value = String(headers[name]);
        if (INVALID_HEADER_CHAR.test(value)) {
          throw codedError(`Invalid character in header content ["${name}"]`, 'ERR_INVALID_CHAR');
        }
        head += `${name}: ${value}\r\n`;
      }
    }
    if (body === undefined) return head + this.fixedLines;
    return `${head}Content-Length: ${Buffer.byteLength(body)}\r\n${this.fixedLines}${body}`;
  }

  /* One request; resolves {status, headers, body}. A keep-alive socket that lemu closed while
   * idle fails on reuse; that request is retried once on a fresh socket. */
  request(method, urlPath, body, headers, pipelineNext) {
    return new Promise((resolve, reject) => {
      const req = { bytes: this.encode(method, urlPath, body, headers), resolve, reject,
        reused: false, retried: false };
      if (this.deferred !== null) {
        this.deferred.push(req); // keeps the order; the pipelining is off (see flush)
      } else if (pipelineNext) {
        this.deferred = [req];
        setImmediate(() => this.flush());
      } else {
        this.queue.push([req]);
        this.pump();
      }
    });
  }

  flush() {
    const reqs = this.deferred;
    this.deferred = null;
    if (reqs.length === 1 && this.nextAnswer === null) {
      const next = { bytes: this.nextBytes, reused: false, retried: false };
      this.nextAnswer = new Promise((resolve, reject) => {
        next.resolve = resolve;
        next.reject = reject;
      });
      this.nextAnswer.catch(noop); // consumed (and any failure reported) by nextInvocation
      this.queue.push([reqs[0], next]);
    } else {
      for (const req of reqs) this.queue.push([req]);
    }
    this.pump();
  }

  /* One exchange at a time, as http.Agent({maxSockets: 1}) had it: the next request is written
   * when the last one is answered (the POST /response + GET /next pair is one unit). */
  pump() {
    if (this.sent.length === 0 && this.queue.length) this.write(this.queue.shift());
  }

  /* Writes reqs on the connection (opened if there is none) in one write. */
  write(reqs) {
    if (this.socket === null) this.connect();
    let bytes = '';
    for (const req of reqs) {
      req.reused = this.socketUsed;
      this.socketUsed = true;
      this.sent.push(req);
      bytes += req.bytes;
    }
    if (this.sent.length === reqs.length) this.socket.ref();
    this.socket.write(bytes);
  }

  connect() {
    const socket = net.connect({ host: this.hostname, port: this.port });
    socket.setNoDelay(true);
    socket.setKeepAlive(true, 1000); // as http.Agent({keepAlive: true}) does
    socket.on('data', (chunk) => this.onData(socket, chunk));
    socket.on('end', () => this.onEnd(socket, null));
    socket.on('error', (err) => this.onEnd(socket, err));
    socket.on('close', () => this.onEnd(socket, null));
    this.socket = socket;
    this.socketUsed = false;
    this.buf = null;
    this.need = 0;
  }

  /* Forgets the connection; returns the requests still awaiting an answer on it. */
  drop() {
    const socket = this.socket;
    const pending = this.sent;
    this.socket = null;
    this.sent = [];
    this.buf = null;
    this.need = 0;
    this.parts = null;
    socket.destroy();
    return pending;
  }

  onData(socket, chunk) {
    if (socket !== this.socket) return;
    if (this.need > 0) { // joined once, when the answer is complete (a 6 MB event: no n² copying)
      this.parts.push(chunk);
      this.have += chunk.length;
      if (this.have < this.need) return;
      this.buf = Buffer.concat(this.parts, this.have);
      this.need = 0;
      this.parts = null;
    } else {
      this.buf = this.buf === null ? chunk : Buffer.concat([this.buf, chunk]);
    }
    while (this.socket === socket && this.buf !== null) {
      if (this.sent.length === 0) { // bytes nobody asked for: this connection is unusable
        this.drop();
        return;
      }
      let res;
      try {
        res = this.parse(false);
      } catch (err) {
        const [req, ...rest] = this.drop();
        req.reject(err);
        if (rest.length) this.write(rest);
        this.pump();
        return;
      }
      if (res === null) return;
      this.answered(res);
    }
  }

  /* The end of the connection (EOF, an error, or close): an answer framed by the connection's
   * end is complete; any other request awaiting an answer is retried once on a fresh socket if
   * this one had been reused and no answer to it had begun (lemu closed an idle connection),
   * and fails otherwise ('socket hang up' / 'aborted', as http says). */
  onEnd(socket, error) {
    if (socket !== this.socket) return;
    if (this.sent.length && this.buf !== null) {
      let res = null;
      try {
        res = this.parse(true);
      } catch (_) { /* reported below as an aborted answer */ }
      if (res !== null) this.answered(res);
      if (socket !== this.socket) return;
    }
    const begun = this.buf !== null && this.buf.length > 0;
    const pending = this.drop();
    const retry = [];
    pending.forEach((req, i) => {
      const err = i === 0 && begun ? codedError('aborted', 'ECONNRESET')
        : error || codedError('socket hang up', 'ECONNRESET');
      if (!(i === 0 && begun) && req.reused && !req.retried &&
          (err.code === 'ECONNRESET' || err.code === 'EPIPE')) {
        req.retried = true;
        retry.push(req);
      } else {
        req.reject(err);
      }
    });
    if (retry.length) this.write(retry);
    this.pump();
  }

  /* The oldest request's answer is complete: hand it over; `Connection: close` ends the
   * connection (requests written after it go again on a new one). */
  answered(res) {
    const req = this.sent.shift();
    if (res.close) {
      const rest = this.drop();
      if (rest.length) this.write(rest);
    }
    if (this.sent.length === 0) {
      if (this.queue.length) this.pump();
      else if (this.socket !== null) this.socket.unref();
    }
    req.resolve(res);
  }

  /* The first complete answer in this.buf ({status, headers, body, close}, consumed), or null
   * if more bytes are needed; atEnd: the connection has ended (frames a length-less body). */
  parse(atEnd) {
    for (;;) {
      const buf = this.buf;
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) {
        if (buf.length > MAX_HEAD_BYTES) {
          throw codedError('Parse Error: Header overflow', 'HPE_HEADER_OVERFLOW');
        }
        return null;
      }
      const lines = buf.toString('latin1', 0, end).split('\r\n');
      const m = /^HTTP\/1\.([01]) (\d{3})(?: |$)/.exec(lines[0]);
      if (!m) throw codedError('Parse Error: Expected HTTP/', 'HPE_INVALID_CONSTANT');
      const status = Number(m[2]);
      const headers = {};
      for (let i = 1; i < lines.length; i++) {
        const line = lines[i];
        const colon = line.indexOf(':');
        if (colon <= 0) {
          throw codedError('Parse Error: Invalid header token', 'HPE_INVALID_HEADER_TOKEN');
        }
        const name = line.slice(0, colon).toLowerCase();
        const value = line.slice(colon + 1).trim();
        if (headers[name] === undefined) headers[name] = value;
        else if (!SINGLE_HEADERS.has(name)) headers[name] += ', ' + value;
      }
      let start = end + 4;
      if (status >= 100 && status < 200 && status !== 101) { // informational: the answer follows
        this.buf = start < buf.length ? buf.subarray(start) : null;
        if (this.buf === null) return null;
        continue;
      }
      const connection = (headers.connection || '').toLowerCase();
      let close = connection.includes('close') ||
        (m[1] === '0' && !connection.includes('keep-alive'));
      let body;
      if (/chunked/i.test(headers['transfer-encoding'] || '')) {
        const chunks = [];
        for (;;) {
          const eol = buf.indexOf('\r\n', start);
          if (eol < 0) return null;
          const size = parseInt(buf.toString('latin1', start, eol).split(';')[0].trim() || '0', 16);
          if (Number.isNaN(size)) {
            throw codedError('Parse Error: Invalid character in chunk size',
              'HPE_INVALID_CHUNK_SIZE');
          }
          if (size === 0) { // trailers up to the empty line
            let at = eol + 2;
            for (;;) {
              const lineEnd = buf.indexOf('\r\n', at);
              if (lineEnd < 0) return null;
              if (lineEnd === at) break;
              at = lineEnd + 2;
            }
            body = Buffer.concat(chunks);
            start = at + 2;
            break;
          }
          if (buf.length < eol + 2 + size + 2) return null;
          chunks.push(buf.subarray(eol + 2, eol + 2 + size));
          start = eol + 2 + size + 2;
        }
      } else if (headers['content-length'] !== undefined) {
        const length = Number(headers['content-length']);
        if (!Number.isSafeInteger(length) || length < 0) {
          throw codedError('Parse Error: Invalid character in Content-Length',
            'HPE_INVALID_CONTENT_LENGTH');
        }
        if (buf.length < start + length) {
          if (!atEnd) {
            this.need = start + length;
            this.parts = [buf];
            this.have = buf.length;
          }
          return null;
        }
        body = buf.subarray(start, start + length);
        start += length;
      } else if (status === 204 || status === 304) {
        body = Buffer.alloc(0);
      } else { // no framing: the body runs to the connection's end
        if (!atEnd) return null;
        body = buf.subarray(start);
        start = buf.length;
        close = true;
      }
      this.buf = start < buf.length ? buf.subarray(start) : null;
      return { status, headers, body, close };
    }
  }

  /* A failure to talk to lemu is not something the function can recover from. */
  fatal(what, err) {
    process.stderr.write(`lemu node runtime: ${what} failed: ${err && err.message ? err.message : err}\n`);
    process.exit(1);
  }

  post(urlPath, bodyString, headers, callback, pipelineNext) {
    this.request('POST', urlPath, bodyString, headers, pipelineNext).then((res) => {
      if (res.status !== 202) {
        process.stderr.write(`lemu node runtime: POST ${urlPath} answered ${res.status}: ` +
          `${res.body.toString('utf8', 0, 512)}\n`);
      }
      if (callback) callback();
    }, (err) => this.fatal(`POST ${urlPath}`, err));
  }

  async nextInvocation() {
    let res;
    try {
      const pipelined = this.nextAnswer;
      this.nextAnswer = null;
      res = await (pipelined || this.request('GET', '/runtime/invocation/next'));
    } catch (err) {
      this.fatal('GET /runtime/invocation/next', err);
    }
    if (res.status !== 200) {
      this.fatal('GET /runtime/invocation/next', `HTTP ${res.status} ${res.body.toString()}`);
    }
    return { bodyJson: res.body.toString('utf8'), headers: res.headers };
  }

  /* Serialisation happens before anything is sent, so a result that cannot be stringified
   * throws to the caller, which reports it as an error instead. */
  postInvocationResponse(result, id, callback) {
    const body = serialize(result);
    this.post(`/runtime/invocation/${encodeURIComponent(id)}/response`, body,
      { 'Content-Type': 'application/json' }, callback,
      Buffer.byteLength(body) <= PIPELINE_MAX_BODY);
  }

  postInvocationError(error, id, callback) {
    const doc = errorDocument(error);
    this.post(`/runtime/invocation/${encodeURIComponent(id)}/error`, serialize(doc),
      { 'Content-Type': 'application/json', [ERROR_TYPE_HEADER]: String(doc.errorType) },
      callback);
  }

  postInitError(error, callback) {
    const doc = errorDocument(error);
    this.post('/runtime/init/error', serialize(doc),
      { 'Content-Type': 'application/json', [ERROR_TYPE_HEADER]: String(doc.errorType) },
      callback);
  }
}

function serialize(value) {
  let text;
  try {
    text = JSON.stringify(value === undefined ? null : value);
  } catch (_) {
    throw new Error('Unable to stringify response body');
  }
  return text === undefined ? 'null' : text;
}

/* ------------------------------------------------------------------------------------------ */
/* 'beforeExit' fires when the event loop has nothing left to do; the invocation in flight    */
/* decides what that means (send the callback's result, or report a never-settled promise).   */

const BEFORE_EXIT = Symbol.for('aws.lambda.beforeExit');
const noop = () => {};
const beforeExit = {
  invoke: () => global[BEFORE_EXIT](),
  reset: () => { global[BEFORE_EXIT] = noop; },
  set: (fn) => { global[BEFORE_EXIT] = fn; },
};

/* ------------------------------------------------------------------------------------------ */
/* callback / context.done / succeed / fail for one invocation; only the first call counts.   */

function buildCallbackContext(client, id, scheduleNext) {
  let completed = false;
  let waitForEmptyEventLoop = true;

  const postError = (err, cb) => {
    logError('Invoke Error', err);
    client.postInvocationError(err, id, cb);
  };
  const complete = (result, cb) => {
    if (completed) {
      console.error('Invocation has already been reported as done. Cannot call complete more ' +
        'than once per invocation.');
      return;
    }
    completed = true;
    client.postInvocationResponse(result, id, cb);
  };

  const callback = (err, result) => {
    beforeExit.reset();
    if (err !== undefined && err !== null) {
      postError(err, scheduleNext);
    } else if (!waitForEmptyEventLoop) {
      complete(result, scheduleNext);
    } else {
      beforeExit.set(() => setImmediate(() => complete(result, scheduleNext)));
    }
  };
  const done = (err, result) => {
    beforeExit.reset();
    if (err !== undefined && err !== null) {
      postError(err, scheduleNext);
    } else {
      complete(result, scheduleNext);
    }
  };
  const context = {
    get callbackWaitsForEmptyEventLoop() { return waitForEmptyEventLoop; },
    set callbackWaitsForEmptyEventLoop(v) { waitForEmptyEventLoop = v; },
    succeed: (result) => done(null, result),
    fail: (err) => (err === undefined || err === null ? done('handled') : done(err, null)),
    done,
  };

  let finished = false;
  const firstOnly = (fn) => function (...args) {
    if (!finished) {
      fn(...args);
      finished = true;
    }
  };
  context.succeed = firstOnly(context.succeed);
  context.fail = firstOnly(context.fail);
  context.done = firstOnly(context.done);
  return [firstOnly(callback), context, () => { completed = true; }];
}

/* The context fields, from the environment and the /next headers (header names lower-case). */
function attachInvokeData(context, headers) {
  const parse = (value, name) => {
    if (value === undefined) return undefined;
    try {
      return JSON.parse(value);
    } catch (err) {
      throw new Error(`Cannot parse ${name} as json: ${err.toString()}`);
    }
  };
  const deadline = headers['lambda-runtime-deadline-ms'];
  if (headers['lambda-runtime-trace-id']) {
    process.env._X_AMZN_TRACE_ID = headers['lambda-runtime-trace-id'];
  } else {
    delete process.env._X_AMZN_TRACE_ID;
  }
  return Object.assign(context, {
    functionVersion: process.env.AWS_LAMBDA_FUNCTION_VERSION,
    functionName: process.env.AWS_LAMBDA_FUNCTION_NAME,
    memoryLimitInMB: process.env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE,
    logGroupName: process.env.AWS_LAMBDA_LOG_GROUP_NAME,
    logStreamName: process.env.AWS_LAMBDA_LOG_STREAM_NAME,
  }, {
    clientContext: parse(headers['lambda-runtime-client-context'], 'ClientContext'),
    identity: parse(headers['lambda-runtime-cognito-identity'], 'CognitoIdentity'),
    invokedFunctionArn: headers['lambda-runtime-invoked-function-arn'],
    awsRequestId: headers['lambda-runtime-aws-request-id'],
    tenantId: headers['lambda-runtime-aws-tenant-id'],
    getRemainingTimeInMillis: () => deadline - Date.now(),
  });
}

/* ------------------------------------------------------------------------------------------ */
/* Loading the handler named by _HANDLER: `file.func`, `dir/sub/file.func`, `file.obj.func`.  */

function splitHandler(fullHandler) {
  if (fullHandler.includes('..')) {
    throw new MalformedHandlerName(`'${fullHandler}' is not a valid handler name. Use absolute ` +
      'paths when specifying root directories in handler names.');
  }
  const base = path.basename(fullHandler);
  const moduleRoot = fullHandler.substring(0, fullHandler.indexOf(base));
  const match = base.match(/^([^.]*)\.(.*)$/);
  if (!match) throw new MalformedHandlerName('Bad handler');
  return [moduleRoot, match[1], match[2]];
}

function packageTypeIsModule(folder) {
  for (;;) {
    if (folder.endsWith('/node_modules')) return false;
    const pj = path.join(folder, 'package.json');
    if (fs.existsSync(pj)) {
      try {
        const pkg = JSON.parse(fs.readFileSync(pj));
        if (pkg) return pkg.type === 'module';
      } catch (e) {
        console.warn(`${pj} cannot be read, it will be ignored for ES module detection purposes.`, e);
        return false;
      }
    }
    if (folder === '/') return false;
    folder = path.resolve(folder, '..');
  }
}

function requireIfExists(file) {
  return fs.existsSync(file) ? require(file) : undefined;
}

async function importIfExists(file) {
  return fs.existsSync(file) ? import(pathToFileURL(file).href) : undefined;
}

/* Same search as AWS: extensionless, .js as CommonJS (unless "type": "module"), .js as ESM,
 * .mjs, .cjs, and finally Node's own resolution from the task root. */
async function requireUserModule(appRoot, moduleRoot, moduleName) {
  const file = path.resolve(appRoot, moduleRoot, moduleName);
  const extensionless = requireIfExists(file);
  if (extensionless) return extensionless;
  const esm = fs.existsSync(file + '.js') && packageTypeIsModule(path.dirname(file + '.js'));
  if (!esm) {
    const cjs = requireIfExists(file + '.js');
    if (cjs) return cjs;
  }
  const loaded = (esm && (await importIfExists(file + '.js'))) ||
    (await importIfExists(file + '.mjs')) || requireIfExists(file + '.cjs');
  if (loaded) return loaded;
  return require(require.resolve(moduleName, { paths: [appRoot, moduleRoot] }));
}

async function loadHandler(appRoot, fullHandler) {
  const [moduleRoot, moduleName, handlerPath] = splitHandler(fullHandler);
  let userModule;
  try {
    userModule = await requireUserModule(appRoot, moduleRoot, moduleName);
  } catch (e) {
    if (e instanceof SyntaxError) throw new UserCodeSyntaxError(e);
    if (e && e.code === 'MODULE_NOT_FOUND') throw new ImportModuleError(e);
    throw e;
  }
  const handler = handlerPath.split('.').reduce((obj, key) => obj && obj[key], userModule);
  if (!handler) throw new HandlerNotFound(`${fullHandler} is undefined or not exported`);
  if (typeof handler !== 'function') throw new HandlerNotFound(`${fullHandler} is not a function`);
  return handler;
}

/* ------------------------------------------------------------------------------------------ */
/* The invoke loop. The class is called Runtime and calls `this.handler(...)`, so a user's    */
/* stack trace shows `at Runtime.handler (...)` as it does on AWS.                             */

class Runtime {
  constructor(client, handler, errorCallbacks) {
    this.client = client;
    this.handler = handler;
    this.isAsync = handler.constructor && handler.constructor.name === 'AsyncFunction';
    this.errorCallbacks = errorCallbacks;
  }

  scheduleIteration() {
    setImmediate(() => {
      this.handleOnce().then(noop, (err) => {
        console.log(`Unexpected Top Level Error: ${err.toString()}`);
        this.errorCallbacks.uncaughtException(err);
      });
    });
  }

  async handleOnce() {
    const { bodyJson, headers } = await this.client.nextInvocation();
    const id = headers['lambda-runtime-aws-request-id'];
    global[REQUEST_ID] = id;
    const [callback, callbackContext, markCompleted] =
      buildCallbackContext(this.client, id, this.scheduleIteration.bind(this));
    try {
      this.setErrorCallbacks(id);
      this.setDefaultExitListener(id, markCompleted);
      const result = this.handler(JSON.parse(bodyJson),
        attachInvokeData(callbackContext, headers), callback);
      if (result && typeof result.then === 'function') {
        result.then(callbackContext.succeed, callbackContext.fail).catch(callbackContext.fail);
      }
    } catch (err) {
      callback(err);
    }
  }

  setErrorCallbacks(id) {
    this.errorCallbacks.uncaughtException = (error) => {
      this.client.postInvocationError(error, id, () => process.exit(129));
    };
    this.errorCallbacks.unhandledRejection = (error) => {
      this.client.postInvocationError(error, id, () => process.exit(128));
    };
  }

  /* Nothing left to run and no result yet: an async handler's promise never settled
   * (Runtime.NodeJsExit); a sync or callback handler that never called back answers null. */
  setDefaultExitListener(id, markCompleted) {
    beforeExit.set(() => {
      markCompleted();
      if (this.isAsync) {
        const err = new NodeJsExit();
        logError('Invoke Error', err);
        this.client.postInvocationError(err, id, () => this.scheduleIteration());
      } else {
        this.client.postInvocationResponse(null, id, () => this.scheduleIteration());
      }
    });
  }
}

/* ------------------------------------------------------------------------------------------ */

async function start() {
  patchConsole();
  const api = process.env.AWS_LAMBDA_RUNTIME_API;
  if (!api) {
    process.stderr.write('lemu node runtime: AWS_LAMBDA_RUNTIME_API is not set\n');
    process.exit(1);
  }
  const client = new RuntimeApiClient(api);

  // Until the first invocation, a crash is an init error; Runtime replaces these per invoke.
  const errorCallbacks = {
    uncaughtException: (error) => client.postInitError(error, () => process.exit(129)),
    unhandledRejection: (error) => client.postInitError(error, () => process.exit(128)),
  };
  process.on('uncaughtException', (error) => {
    logError('Uncaught Exception', error);
    errorCallbacks.uncaughtException(error);
  });
  process.on('unhandledRejection', (reason, promise) => {
    const error = new UnhandledPromiseRejection(reason, promise);
    logError('Unhandled Promise Rejection', error);
    errorCallbacks.unhandledRejection(error);
  });
  beforeExit.reset();
  process.on('beforeExit', beforeExit.invoke);

  let handler;
  try {
    const appRoot = process.env.LAMBDA_TASK_ROOT || process.cwd();
    handler = await loadHandler(appRoot, process.env._HANDLER || '');
  } catch (error) {
    // Reported like an exception thrown by the runtime's top-level code on AWS.
    logError('Uncaught Exception', error);
    errorCallbacks.uncaughtException(error);
    return;
  }
  new Runtime(client, handler, errorCallbacks).scheduleIteration();
}

start();
