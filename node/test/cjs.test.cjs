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
