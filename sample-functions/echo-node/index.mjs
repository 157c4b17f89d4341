// echo-node: an ES module handler that returns the event unchanged and logs one line, which
// lands in the Tail log as `<time>\t<request id>\tINFO\techo-node <request id>`.
export const handler = async (event, context) => {
  console.log('echo-node', context.awsRequestId);
  return event;
};
