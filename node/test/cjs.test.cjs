// lemu-node from CommonJS: the same helper through require().
const { test } = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const { InvokeCommand } = require('@aws-sdk/client-lambda');
const { startLemu } = require('..');

test('require() works and the client invokes', async () => {
  const lemu = await startLemu({ functionsDir: path.join(__dirname, '..', 'examples', 'functions') });
  try {
    const res = await lemu.client.send(new InvokeCommand({ FunctionName: 'hello-node', Payload: Buffer.from('{"name":"cjs"}') }));
    assert.deepEqual(JSON.parse(Buffer.from(res.Payload).toString()), { greeting: 'hello, cjs' });
  } finally {
    await lemu.stop();
  }
});

test('a lemu with a control token: the helper sends it, a bare request is refused', async () => {
  const lemu = await startLemu({ functionsDir: path.join(__dirname, '..', 'examples', 'functions'),
    controlToken: 'node-secret' });
  try {
    const bare = await lemu.request('GET', '/lemu/v1/faults', undefined, { 'X-Lemu-Control-Token': 'wrong' });
    assert.equal(bare.status, 401);
    assert.equal(JSON.parse(bare.body).Type, 'User');
    const id = await lemu.fault('throttle', { function: 'hello-node', when: { Nth: [1] } });
    assert.deepEqual((await lemu.faults()).map((r) => r.Id), [id]);
    await assert.rejects(lemu.client.send(new InvokeCommand({ FunctionName: 'hello-node', Payload: Buffer.from('{}') })),
      (e) => e.name === 'TooManyRequestsException');
    assert.match(await lemu.metrics(), /aws_lambda_throttles_total/);
    await lemu.clearFaults();
    assert.deepEqual(await lemu.faults(), []);
    assert.ok(!lemu.stderr().includes('node-secret'));
  } finally {
    await lemu.stop();
  }
});
