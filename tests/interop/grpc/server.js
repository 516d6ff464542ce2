// A real gRPC server (grpc-js) speaking HTTP/2 without TLS, as an app behind a sidecar.
// Usage: node server.js <port> <name>. Prints "grpc server <name> listening on <port>" once bound.
'use strict';
const { grpc, Greeter } = require('./greeter');

const [port, name] = [process.argv[2] ?? '0', process.argv[3] ?? 'greeter'];
const server = new grpc.Server();
server.addService(Greeter.service, {
  SayHello(call, callback) {
    const trailer = new grpc.Metadata();
    trailer.set('x-served-by', name);
    callback(null, { message: `hello ${call.request.name} from ${name}` }, trailer);
  },
  Count(call) {
    for (let i = 1; i <= call.request.to; i++) {
      call.write({ value: i });
    }
    const trailer = new grpc.Metadata();
    trailer.set('x-count', String(call.request.to));
    call.end(trailer);
  },
  Chat(call) {
    call.on('data', (request) => call.write({ message: `echo ${request.name}` }));
    call.on('end', () => call.end());
  },
  Fail(call, callback) {
    callback({ code: grpc.status.NOT_FOUND, details: `no greeting for ${call.request.name}` });
  },
});

server.bindAsync(`127.0.0.1:${port}`, grpc.ServerCredentials.createInsecure(), (error, bound) => {
  if (error) {
    console.error(`grpc server ${name}: ${error.message}`);
    process.exit(1);
  }
  console.log(`grpc server ${name} listening on ${bound}`);
});

for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => server.tryShutdown(() => process.exit(0)));
}
