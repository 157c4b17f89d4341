// handler-missing-node: the Handler is index.handler but the module exports lambdaHandler, so init
// fails with Runtime.HandlerNotFound: "index.handler is undefined or not exported".
exports.lambdaHandler = async (event) => event;
