// hello-node: the example function of lemu-node's test suite.
export const handler = async (event) => {
  if (event && event.sleep) await new Promise((r) => setTimeout(r, event.sleep * 1000));
  if (!event || !event.name) throw new TypeError('no name in the event');
  console.log('greeting', event.name);
  return { greeting: `hello, ${event.name}` };
};
