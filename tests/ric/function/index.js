// Handlers for tests/integration/test_ric.py, run by the unmodified aws-lambda-ric.
"use strict";

let invocations = 0; // module state: proves a warm environment is reused

// The event back, untouched: the RIC re-serialises it, so a canonical JSON payload returns byte-exact.
exports.echo = async (event) => event;

// The event plus what the RIC's context says.
exports.handler = async (event, context) => {
  invocations += 1;
  const first = context.getRemainingTimeInMillis();
  await new Promise((resolve) => setTimeout(resolve, 20));
  return {
    event,
    awsRequestId: context.awsRequestId,
    functionName: context.functionName,
    functionVersion: context.functionVersion,
    invokedFunctionArn: context.invokedFunctionArn,
    memoryLimitInMB: context.memoryLimitInMB,
    logGroupName: context.logGroupName,
    logStreamName: context.logStreamName,
    remainingTimeInMillis: [first, context.getRemainingTimeInMillis()],
    nowMs: Date.now(),
    invocations,
    pid: process.pid,
  };
};

class RicTestError extends Error {
  constructor(message) {
    super(message);
    this.name = "RicTestError";
  }
}

// An exception in the handler: the RIC reports it itself (errorType, errorMessage, trace).
exports.throws = async (event) => {
  throw new RicTestError("boom from the handler: " + JSON.stringify(event));
};
