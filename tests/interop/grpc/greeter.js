// Loads the Greeter service definition shared by the server and the client.
'use strict';
const path = require('node:path');
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');

const definition = protoLoader.loadSync(path.join(__dirname, 'greeter.proto'), { keepCase: true });
module.exports = { grpc, Greeter: grpc.loadPackageDefinition(definition).meshtest.Greeter };
