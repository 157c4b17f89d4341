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
const http = require('http');
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
/* The Runtime API client: one keep-alive connection (maxSockets 1), requests in order.       */

class RuntimeApiClient {
  constructor(address) {
    const colon = address.lastIndexOf(':');
    this.hostname = address.slice(0, colon).replace(/^\[|\]$/g, '') || '127.0.0.1';
    this.port = parseInt(address.slice(colon + 1), 10);
    this.agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  }

  /* One request; resolves {status, headers, body}. A keep-alive socket that lemu closed while
   * idle fails with ECONNRESET on reuse; that request is retried once on a fresh socket. */
  request(method, urlPath, body, headers, retried) {
    return new Promise((resolve, reject) => {
      const req = http.request({
        hostname: this.hostname, port: this.port, method, path: API_PREFIX + urlPath,
        headers: Object.assign({}, headers || {},
          body !== undefined ? { 'Content-Length': Buffer.byteLength(body) } : {}),
        agent: this.agent,
      }, (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => resolve({
          status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks),
        }));
        res.on('error', reject);
      });
      req.on('error', (err) => {
        if (!retried && req.reusedSocket && (err.code === 'ECONNRESET' || err.code === 'EPIPE')) {
          resolve(this.request(method, urlPath, body, headers, true));
        } else {
          reject(err);
        }
      });
      req.end(body);
    });
  }

  /* A failure to talk to lemu is not something the function can recover from. */
  fatal(what, err) {
    process.stderr.write(`lemu node runtime: ${what} failed: ${err && err.message ? err.message : err}\n`);
    process.exit(1);
  }

  post(urlPath, bodyString, headers, callback) {
    this.request('POST', urlPath, bodyString, headers).then((res) => {
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
      res = await this.request('GET', '/runtime/invocation/next');
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
      { 'Content-Type': 'application/json' }, callback);
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
