'use strict';
// lemu-node: start a real `lemu serve` from a Node.js test. One child process per startLemu()
// call, on an ephemeral 127.0.0.1 port (read from lemu's first stdout line) with its own state
// directory; stop() sends SIGTERM and rejects when lemu crashed, hung or exited non-zero, so a
// test suite notices a broken emulator instead of silently testing against a dead one.
// CommonJS source; index.mjs re-exports it for ESM.

const { spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const START_TIMEOUT_MS = 10000;
const STOP_TIMEOUT_MS = 5000;
const SANITIZER_MARKERS = ['Sanitizer', 'runtime error:'];
const DEFAULT_REGION = 'us-east-1';
// lemu accepts any credentials; the SDK only needs some to sign with.
const DUMMY_CREDENTIALS = { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'lemu' };
// lemu's control token (lemu serve --control-token): its environment variable and header.
const CONTROL_TOKEN_ENV = 'LEMU_CONTROL_TOKEN';
const CONTROL_TOKEN_HEADER = 'X-Lemu-Control-Token';

class LemuError extends Error {}

// Process groups of servers not stopped yet, killed if the process exits first.
const live = new Set();
process.on('exit', () => { for (const kill of live) kill(); });

function isExecutable(p) {
  try {
    fs.accessSync(p, fs.constants.X_OK);
    return fs.statSync(p).isFile();
  } catch {
    return false;
  }
}

/** The lemu binary: explicit, else $LEMU_BIN, else `lemu` on PATH, else ../build/lemu. */
function findLemuBin(explicit) {
  for (const cand of [explicit, process.env.LEMU_BIN]) {
    if (cand) return path.resolve(cand);
  }
  for (const dir of (process.env.PATH || '').split(path.delimiter)) {
    if (dir && isExecutable(path.join(dir, 'lemu'))) return path.join(dir, 'lemu');
  }
  const built = path.join(__dirname, '..', 'build', 'lemu');
  if (isExecutable(built)) return built;
  throw new LemuError('no lemu binary: pass {lemuBin}, set LEMU_BIN, put lemu on PATH, or build the '
    + 'repository (cmake -S . -B build && cmake --build build)');
}

function tail(text, n = 4000) {
  return text.length <= n ? text : '...\n' + text.slice(-n);
}

/**
 * Start lemu. options:
 *   config        lemu.json as an object (written to a temporary file) or a path to one
 *   functionsDir  a directory of function folders (each with a function.json), when no config
 *   args          more `lemu serve` arguments, e.g. ['--time-scale', '0.001']
 *   lemuBin, env, region, clientConfig (extra LambdaClient options)
 *   controlToken  the token lemu requires on /lemu/v1/ (given to lemu as LEMU_CONTROL_TOKEN); by
 *                 default the one lemu is started with, if any (--control-token in args, else
 *                 LEMU_CONTROL_TOKEN in env or process.env, else the config object's
 *                 Lemu.ControlToken). fault(), faults(), metrics(), request() send it.
 * Resolves to {url, port, client, fault(), faults(), clearFaults(), logs(), stderr(), metrics(),
 * metric(), request(), stop()}.
 */
async function startLemu(options = {}) {
  const lemuBin = findLemuBin(options.lemuBin);
  const workdir = fs.mkdtempSync(path.join(os.tmpdir(), 'lemu-node-'));
  const cmd = ['serve', '--listen', '127.0.0.1:0', '--state-dir', path.join(workdir, 'state')];
  if (options.config && typeof options.config === 'object') {
    const file = path.join(workdir, 'lemu.json');
    fs.writeFileSync(file, JSON.stringify(options.config));
    cmd.push('-c', file);
  } else if (options.config) {
    cmd.push('-c', String(options.config));
  }
  cmd.push(...(options.args || []));
  const env = { ...process.env, ...(options.env || {}) };
  if (options.functionsDir) env.LEMU_SAMPLES_DIR = path.resolve(options.functionsDir);
  if (options.controlToken) env[CONTROL_TOKEN_ENV] = options.controlToken;
  const tokenArg = (options.args || []).indexOf('--control-token');
  const controlToken = options.controlToken
    || (tokenArg >= 0 ? (options.args || [])[tokenArg + 1] : undefined)
    || env[CONTROL_TOKEN_ENV]
    || (options.config && typeof options.config === 'object' ? options.config.Lemu?.ControlToken : undefined);

  const child = spawn(lemuBin, cmd, { env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  let out = '';
  let err = '';
  let terminating = false;
  const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (d) => { err += d; });
  child.stdout.setEncoding('utf8');

  const url = await new Promise((resolve, reject) => {
    let first = '';
    const timer = setTimeout(() => {
      killGroup();
      reject(new LemuError(`lemu printed no URL within ${START_TIMEOUT_MS} ms; stderr:\n${err}`));
    }, START_TIMEOUT_MS);
    const onData = (d) => {
      first += d;
      const nl = first.indexOf('\n');
      if (nl < 0) return;
      clearTimeout(timer);
      child.stdout.off('data', onData);
      out = first.slice(nl + 1);
      child.stdout.on('data', (more) => { out += more; });
      resolve(first.slice(0, nl).trim());
    };
    child.stdout.on('data', onData);
    child.on('error', (e) => { clearTimeout(timer); reject(new LemuError(`cannot run ${lemuBin}: ${e.message}`)); });
    exited.then(({ code }) => {
      clearTimeout(timer);
      // give stderr a moment to drain so the message names lemu's own reason
      setTimeout(() => reject(new LemuError(`lemu did not start (exit ${code}): ${err.trim()}`)), 50);
    });
  });
  // A test that forgets stop() must not hang its process on lemu: unref the child (stop() refs it
  // again while it waits), and kill it when the process exits.
  child.unref();
  child.stdout.unref?.();
  child.stderr.unref?.();
  live.add(killGroup);

  function killGroup() {
    try { process.kill(-child.pid, 'SIGKILL'); } catch { /* already gone */ }
  }

  function crashReport() {
    const done = child.exitCode !== null || child.signalCode !== null;
    if (done && !terminating) {
      return `lemu exited by itself (${child.exitCode ?? child.signalCode}) while the test ran; stderr:\n${tail(err)}`;
    }
    if (SANITIZER_MARKERS.some((m) => err.includes(m))) return `lemu printed a sanitizer report:\n${tail(err)}`;
    if (terminating && done && child.exitCode !== 0) {
      return `lemu exited with ${child.exitCode ?? child.signalCode} on SIGTERM; stderr:\n${tail(err)}`;
    }
    return null;
  }

  async function request(method, p, body, headers = {}) {
    const init = { method, headers: { 'Content-Type': 'application/json',
      ...(controlToken ? { [CONTROL_TOKEN_HEADER]: controlToken } : {}), ...headers } };
    if (body !== undefined) init.body = typeof body === 'string' ? body : JSON.stringify(body);
    const res = await fetch(url + p, init);
    const text = await res.text();
    return { status: res.status, headers: res.headers, body: text };
  }

  async function control(method, p, body) {
    const res = await request(method, p, body);
    if (res.status >= 300) throw new LemuError(`${method} ${p}: HTTP ${res.status} ${res.body}`);
    return res.body ? JSON.parse(res.body) : null;
  }

  const { LambdaClient } = require('@aws-sdk/client-lambda');
  const client = new LambdaClient({
    endpoint: url,
    region: options.region || DEFAULT_REGION,
    credentials: DUMMY_CREDENTIALS,
    maxAttempts: 1, // SDK retries off: a test sees exactly what lemu answered
    ...(options.clientConfig || {}),
  });

  let stopped = null;
  const lemu = {
    url,
    port: Number(url.slice(url.lastIndexOf(':') + 1)),
    pid: child.pid,
    client,
    /**
     * Add a fault rule (POST /lemu/v1/faults); resolves to its id. Either a whole rule
     * ({Function, Fault, When, Times, Params, Match}) or fault('throttle', {function, when,
     * times, params, match}).
     */
    async fault(rule, opts = {}) {
      if (typeof rule === 'string') {
        const r = { Function: opts.function || '*', Fault: rule };
        for (const [k, v] of [['When', opts.when], ['Times', opts.times], ['Params', opts.params],
          ['Match', opts.match]]) {
          if (v !== undefined) r[k] = v;
        }
        rule = r;
      }
      return (await control('POST', '/lemu/v1/faults', rule)).Id;
    },
    async faults() { return (await control('GET', '/lemu/v1/faults')).Faults; },
    async clearFaults(id) { await control('DELETE', '/lemu/v1/faults' + (id ? '/' + id : '')); },
    /** Function logs so far ("[fn] line" lines), or only fn's lines without the prefix. */
    logs(fn) {
      if (!fn) return out;
      const prefix = `[${fn}] `;
      return out.split('\n').filter((l) => l.startsWith(prefix)).map((l) => l.slice(prefix.length) + '\n').join('');
    },
    /** lemu's own diagnostics ("lemu: ..." lines). */
    stderr() { return err; },
    async metrics() {
      const res = await request('GET', '/lemu/v1/metrics');
      if (res.status !== 200) throw new LemuError(`GET /lemu/v1/metrics: HTTP ${res.status}`);
      return res.body;
    },
    /** One sample's value from /lemu/v1/metrics (0 when absent). */
    async metric(name, labels = {}) {
      const want = Object.entries(labels).map(([k, v]) => `${k}="${v}"`).sort().join(',');
      for (const line of (await lemu.metrics()).split('\n')) {
        if (!line || line.startsWith('#')) continue;
        const m = /^([^{ ]+)(?:\{(.*)\})? (\S+)$/.exec(line);
        if (!m || m[1] !== name) continue;
        const have = (m[2] ? m[2].match(/[a-zA-Z_]+="(?:[^"\\]|\\.)*"/g) : []).sort().join(',');
        if (have === want) return Number(m[3]);
      }
      return 0;
    },
    request,
    crashReport,
    /** SIGTERM and wait; rejects if lemu crashed, hung, exited non-zero or printed a sanitizer report. */
    stop() {
      if (stopped) return stopped;
      stopped = (async () => {
        client.destroy();
        live.delete(killGroup);
        child.ref();
        child.stdout.ref?.();
        child.stderr.ref?.();
        const before = crashReport();
        terminating = true;
        let hung = false;
        if (child.exitCode === null && child.signalCode === null) {
          child.kill('SIGTERM');
          const t = new Promise((resolve) => setTimeout(() => resolve('timeout'), STOP_TIMEOUT_MS).unref());
          if ((await Promise.race([exited, t])) === 'timeout') {
            hung = true;
            killGroup();
            await exited;
          }
        }
        const report = before || (hung ? `lemu did not stop within ${STOP_TIMEOUT_MS} ms of SIGTERM` : crashReport());
        if (report) throw new LemuError(report);
        fs.rmSync(workdir, { recursive: true, force: true });
      })();
      return stopped;
    },
  };
  return lemu;
}

module.exports = { startLemu, findLemuBin, LemuError };
