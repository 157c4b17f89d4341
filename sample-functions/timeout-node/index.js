// timeout-node: a CommonJS callback handler that waits event.seconds (default 5, past its 1 s
// Timeout) and returns how many times this environment has run it. The module-level counter
// shows warm reuse and starts again at 1 in the fresh environment that follows a timeout.
let invocations = 0;

exports.handler = (event, context, callback) => {
  invocations += 1;
  const seconds = event && event.seconds !== undefined ? event.seconds : 5;
  const remainingBefore = context.getRemainingTimeInMillis();
  setTimeout(() => {
    callback(null, {
      invocations,
      remainingBefore,
      remainingAfter: context.getRemainingTimeInMillis(),
    });
  }, seconds * 1000);
};
