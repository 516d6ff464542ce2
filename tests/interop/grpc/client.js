// A real gRPC client (grpc-js) calling Greeter at <target> (e.g. greeter:80), through the HTTP proxy that the
// http_proxy variable names, exactly as an app behind a sidecar does. Prints one JSON line with what it got back.
'use strict';
const { grpc, Greeter } = require('./greeter');

const target = process.argv[2] ?? 'greeter:80';
const client = new Greeter(target, grpc.credentials.createInsecure());
const deadline = () => new Date(Date.now() + 20000);

function unary() {
  return new Promise((resolve) => {
    // The reply arrives before the status (and its trailers): answer once both are in.
    let reply = null;
    const call = client.SayHello({ name: 'mesh' }, { deadline: deadline() }, (error, answer) => { reply = answer; });
    call.on('status', (status) => resolve(status.code === grpc.status.OK
      ? { message: reply?.message ?? null, servedBy: status.metadata.get('x-served-by')[0] ?? null }
      : { error: status.code, details: status.details }));
  });
}

function serverStream() {
  return new Promise((resolve) => {
    const values = [];
    const call = client.Count({ to: 5 }, { deadline: deadline() });
    call.on('data', (reply) => values.push(reply.value));
    call.on('error', (error) => resolve({ values, error: error.code, details: error.details }));
    call.on('status', (status) => {
      if (status.code === grpc.status.OK) {
        resolve({ values, count: status.metadata.get('x-count')[0] ?? null });
      }
    });
  });
}

function bidi() {
  return new Promise((resolve) => {
    const messages = [];
    const call = client.Chat({ deadline: deadline() });
    call.on('data', (reply) => {
      messages.push(reply.message);
      if (messages.length === 3) {
        call.end();
      } else {
        call.write({ name: `m${messages.length + 1}` });
      }
    });
    call.on('error', (error) => resolve({ messages, error: error.code, details: error.details }));
    call.on('status', (status) => { if (status.code === grpc.status.OK) resolve({ messages }); });
    call.write({ name: 'm1' });
  });
}

function failing() {
  return new Promise((resolve) => {
    client.Fail({ name: 'nobody' }, { deadline: deadline() }, (error) =>
      resolve(error ? { code: error.code, details: error.details } : { code: 0 }));
  });
}

(async () => {
  const result = { unary: await unary(), stream: await serverStream(), bidi: await bidi(), fail: await failing() };
  console.log(JSON.stringify(result));
  client.close();
})().catch((error) => {
  console.error(error);
  process.exit(1);
});
