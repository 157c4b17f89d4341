exports.handler = async (event, context) => {
  const name = (event.pathParameters && event.pathParameters.name) || event.name || "world";
  return {
    statusCode: 200,
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      greeting: `${process.env.GREETING}, ${name}!`,
      stage: process.env.STAGE,
      service: process.env.SERVICE,
      selfArn: process.env.SELF_ARN,
      table: process.env.TABLE,
      memory: context.memoryLimitInMB,
      functionName: context.functionName,
    }),
  };
};

exports.slow = async (event) => {
  await new Promise((resolve) => setTimeout(resolve, (event.sleep || 0) * 1000));
  return { slept: event.sleep || 0 };
};
