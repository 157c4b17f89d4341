// api-node: a correct API Gateway Lambda proxy handler for HTTP APIs (payload 2.0) and REST APIs
// (payload 1.0): statusCode, headers, cookies (the 2.0 cookies list, or multiValueHeaders
// Set-Cookie for 1.0) and a string body. ?status=201 picks the status, ?sleep=2 sleeps first,
// ?echo=event returns the whole event; a binary (base64) request body comes back unchanged.
const COOKIES = ['flavor=chocolate', 'session=abc123; HttpOnly'];

const header = (event, name) => {
  for (const [key, value] of Object.entries(event.headers || {})) {
    if (key.toLowerCase() === name) return value;
  }
  return undefined;
};

export const handler = async (event, context) => {
  const query = event.queryStringParameters || {};
  if (query.sleep) await new Promise((resolve) => setTimeout(resolve, Number(query.sleep) * 1000));
  if (event.isBase64Encoded) {
    return {
      statusCode: 200,
      headers: { 'Content-Type': header(event, 'content-type') || 'application/octet-stream' },
      body: event.body,
      isBase64Encoded: true,
    };
  }
  const payload = query.echo === 'event' ? event : {
    message: 'hello from api-node',
    path: event.rawPath || event.path,
    pathParameters: event.pathParameters || null,
    query,
    requestId: context.awsRequestId,
  };
  const response = {
    statusCode: Number(query.status || 200),
    headers: { 'Content-Type': 'application/json', 'X-Sample': 'api-node' },
    body: JSON.stringify(payload), // body MUST be a string
  };
  if (event.version === '2.0') response.cookies = COOKIES;
  else response.multiValueHeaders = { 'Set-Cookie': COOKIES };
  return response;
};
