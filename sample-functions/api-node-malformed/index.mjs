// api-node-malformed: each common mistake that makes API Gateway answer 502 Bad Gateway
// {"message": "Internal server error"} and log "Execution failed due to configuration error:
// Malformed Lambda proxy response" (seed 003). The {variant} path parameter picks one:
// none (undefined), body-not-string, no-status-code, throw, extra-key, header-object, bad-base64.
export const handler = async (event) => {
  const variant = (event.pathParameters || {}).variant || 'none';
  switch (variant) {
    case 'none':
      return undefined; // forgot to return the response
    case 'body-not-string':
      return { statusCode: 200, body: { message: 'ok' } }; // WRONG: JSON.stringify() it
    case 'no-status-code':
      return { headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ message: 'ok' }) };
    case 'throw':
      throw new Error('the handler failed before returning a response');
    case 'extra-key':
      return { statusCode: 200, body: 'ok', cookies: ['a=1'] }; // REST APIs accept no other key
    case 'header-object':
      return { statusCode: 200, headers: { 'X-Info': { nested: true } }, body: 'ok' };
    case 'bad-base64':
      return { statusCode: 200, body: 'this is not base64!', isBase64Encoded: true };
    default:
      return { statusCode: 404, body: JSON.stringify({ 'unknown variant': variant }) };
  }
};
