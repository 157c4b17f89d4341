// lemu-node's example suite (node:test, ESM): a real lemu driven by the AWS SDK v3 LambdaClient.
// Run: cd node && npm test   (LEMU_BIN=/path/to/lemu if lemu is not on PATH nor in ../build).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { InvokeAsyncCommand, InvokeCommand, ListFunctionsCommand } from '@aws-sdk/client-lambda';
import { startLemu, LemuError } from '../index.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const FUNCTIONS = path.join(HERE, '..', 'examples', 'functions');
const enc = new TextEncoder();
const dec = new TextDecoder();

async function invoke(client, name, event) {
  const res = await client.send(new InvokeCommand({ FunctionName: name, Payload: enc.encode(JSON.stringify(event)) }));
  return { res, body: JSON.parse(dec.decode(res.Payload)) };
}

describe('one lemu for a suite', () => {
  let lemu;
  before(async () => { lemu = await startLemu({ functionsDir: FUNCTIONS }); });
  after(async () => { await lemu.stop(); });

  it('serves the functions dir', async () => {
    const out = await lemu.client.send(new ListFunctionsCommand({}));
    assert.deepEqual(out.Functions.map((f) => f.FunctionName), ['hello-node']);
    assert.match(lemu.url, /^http:\/\/127\.0\.0\.1:\d+$/);
  });

  it('invokes a function', async () => {
    const { res, body } = await invoke(lemu.client, 'hello-node', { name: 'Ada' });
    assert.equal(res.StatusCode, 200);
    assert.equal(res.FunctionError, undefined);
    assert.deepEqual(body, { greeting: 'hello, Ada' });
  });

  it('reports a thrown error as FunctionError Unhandled', async () => {
    const { res, body } = await invoke(lemu.client, 'hello-node', {});
    assert.equal(res.FunctionError, 'Unhandled');
    assert.equal(body.errorType, 'TypeError');
    assert.equal(body.errorMessage, 'no name in the event');
  });

  it('injects a throttle with fault() and clears it', async () => {
    const id = await lemu.fault('throttle', { function: 'hello-node', when: { Nth: [1] } });
    await assert.rejects(invoke(lemu.client, 'hello-node', { name: 'x' }), (e) => {
      assert.equal(e.name, 'TooManyRequestsException');
      assert.equal(e.$metadata.httpStatusCode, 429);
      return true;
    });
    const [rule] = await lemu.faults();
    assert.equal(rule.Id, id);
    assert.equal(rule.Fired, 1);
    await lemu.clearFaults();
    assert.deepEqual(await lemu.faults(), []);
  });

  it('counts the invocations in /lemu/v1/metrics', async () => {
    const before = await lemu.metric('aws_lambda_invocations_total', { function_name: 'hello-node' });
    const errorsBefore = await lemu.metric('aws_lambda_errors_total', { function_name: 'hello-node' });
    await invoke(lemu.client, 'hello-node', { name: 'm' });
    await invoke(lemu.client, 'hello-node', {});
    assert.equal(await lemu.metric('aws_lambda_invocations_total', { function_name: 'hello-node' }), before + 2);
    assert.equal(await lemu.metric('aws_lambda_errors_total', { function_name: 'hello-node' }), errorsBefore + 1);
  });

  it('refuses every invocation type with an access-denied fault', async () => {
    await lemu.fault('access-denied', { function: 'hello-node', when: { Nth: [1, 2] } });
    for (const InvocationType of ['RequestResponse', 'Event']) {
      await assert.rejects(lemu.client.send(new InvokeCommand({ FunctionName: 'hello-node', InvocationType,
        Payload: enc.encode('{}') })), (e) => {
        assert.equal(e.name, 'AccessDeniedException');
        assert.equal(e.$metadata.httpStatusCode, 403);
        assert.match(e.message, /^User: arn:aws:iam::123456789012:user\/developer is not authorized to perform: lambda:InvokeFunction on resource: hello-node$/);
        return true;
      });
    }
    await lemu.clearFaults();
  });

  it('queues an event with the deprecated InvokeAsync', async () => {
    const before = await lemu.metric('aws_lambda_invocations_total', { function_name: 'hello-node' });
    const res = await lemu.client.send(new InvokeAsyncCommand({ FunctionName: 'hello-node',
      InvokeArgs: enc.encode(JSON.stringify({ name: 'Async' })) }));
    assert.equal(res.Status, 202);
    const count = () => lemu.metric('aws_lambda_invocations_total', { function_name: 'hello-node' });
    const seen = () => lemu.logs('hello-node').includes('greeting Async');
    for (let i = 0; i < 250 && ((await count()) < before + 1 || !seen()); i++) {
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.equal(await count(), before + 1); // it ran, once
    assert.match(lemu.logs('hello-node'), /greeting Async/);
  });

  it('keeps the function log', async () => {
    const { res } = await invoke(lemu.client, 'hello-node', { name: 'Grace' });
    const rid = res.$metadata.requestId;
    for (let i = 0; i < 100 && !lemu.logs('hello-node').includes(`REPORT RequestId: ${rid}`); i++) {
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.match(lemu.logs('hello-node'), new RegExp(`REPORT RequestId: ${rid}`));
    assert.match(lemu.logs('hello-node'), /greeting Grace/);
  });
});

describe('a config object', () => {
  it('times out with the configured Timeout', async () => {
    const lemu = await startLemu({
      config: {
        Functions: [{ FunctionName: 'short', Runtime: 'nodejs20.x', Handler: 'index.handler',
          CodeUri: path.join(FUNCTIONS, 'hello-node'), Timeout: 1 }],
      },
    });
    try {
      const { res, body } = await invoke(lemu.client, 'short', { name: 'x', sleep: 2 });
      assert.equal(res.FunctionError, 'Unhandled');
      assert.equal(body.errorType, 'Sandbox.Timedout');
    } finally {
      await lemu.stop();
    }
  });

  it('refuses a bad config with lemu\'s message', async () => {
    await assert.rejects(startLemu({ config: { Functions: [{ FunctionName: 'x', Runtime: 'cobol' }] } }),
      (e) => e instanceof LemuError && /lemu did not start \(exit 2\).*Functions\[0\]/.test(e.message));
  });
});

describe('stop()', () => {
  it('rejects when lemu died during the test', async () => {
    const lemu = await startLemu({ functionsDir: FUNCTIONS });
    process.kill(lemu.pid, 'SIGKILL');
    await new Promise((r) => setTimeout(r, 100));
    await assert.rejects(lemu.stop(), /lemu exited by itself \(SIGKILL\)/);
  });
});
