// throw-node: an async handler that throws. The caller gets FunctionError Unhandled and
// {"errorType":"Error","errorMessage":"boom","trace":["Error: boom","    at Runtime.handler (...)",...]}.
export const handler = async (event, context) => {
  throw new Error('boom');
};
