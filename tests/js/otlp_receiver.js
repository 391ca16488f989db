#!/usr/bin/env node
'use strict';
// An OTLP trace receiver for tests, independent of zerotrace's own .proto schema: it decodes with
// OpenTelemetry JS's generated protobuf code and writes each request, normalised, as one JSON line.
//
//   node tests/js/otlp_receiver.js --http-port P --grpc-port G --out FILE [--ready FILE] [--host H]
//
// Port 0 picks a free port. Once both servers listen, {"http_port":N,"grpc_port":M} is written as
// one line to --ready (atomically, by rename) or to stdout.

const fs = require('node:fs');
const http = require('node:http');
const http2 = require('node:http2');
const zlib = require('node:zlib');
const { parseArgs } = require('node:util');
const grpc = require('@grpc/grpc-js');
const decoder = require('./otlp_trace_decoder');

const TRACES_PATH = '/v1/traces';
const EXPORT_METHOD_PATH = '/opentelemetry.proto.collector.trace.v1.TraceService/Export';
const MAX_BODY_BYTES = 64 * 1024 * 1024;
const GRPC_INVALID_ARGUMENT = 3; // also google.rpc.Code INVALID_ARGUMENT for OTLP/HTTP errors

function log(message) {
  process.stderr.write(`otlp_receiver: ${message}\n`);
}

function parseOptions() {
  const { values } = parseArgs({
    options: {
      'http-port': { type: 'string' },
      'grpc-port': { type: 'string' },
      out: { type: 'string' },
      ready: { type: 'string' },
      host: { type: 'string', default: '127.0.0.1' },
    },
  });
  for (const required of ['http-port', 'grpc-port', 'out']) {
    if (values[required] === undefined) {
      throw new Error(`--${required} is required\nusage: otlp_receiver.js --http-port P ` +
                      '--grpc-port G --out FILE [--ready FILE] [--host H]');
    }
  }
  const port = (name) => {
    const value = Number(values[name]);
    if (!Number.isInteger(value) || value < 0 || value > 65535) {
      throw new Error(`--${name}: not a port: ${values[name]}`);
    }
    return value;
  };
  return {
    httpPort: port('http-port'),
    grpcPort: port('grpc-port'),
    out: values.out,
    ready: values.ready,
    host: values.host,
  };
}

// Every value as a string: repeated HTTP headers joined the way HTTP folds them, binary gRPC
// metadata (-bin keys) in base64.
function headersAsStrings(entries) {
  const headers = {};
  for (const [name, value] of entries) {
    const values = (Array.isArray(value) ? value : [value]).map(
      (v) => (Buffer.isBuffer(v) ? v.toString('base64') : String(v)));
    headers[name.toLowerCase()] = values.join(', ');
  }
  return headers;
}

function mediaType(contentType) {
  return (contentType || '').split(';')[0].trim().toLowerCase();
}

// Decodes a body by media type; returns {request, unknownFields} or throws decoder.BadRequest.
function decodeBody(type, body) {
  if (type === 'application/x-protobuf') return decoder.decodeProtobufRequest(body);
  if (type === 'application/json') return decoder.decodeJsonRequest(body);
  throw new decoder.BadRequest(`unsupported content type "${type}"`);
}

function startHttpServer(options, record) {
  const server = http.createServer((req, res) => {
    const chunks = [];
    let size = 0;
    req.on('error', (err) => log(`HTTP ${req.method} ${req.url}: ${err.message}`));
    req.on('data', (chunk) => {
      size += chunk.length;
      if (size <= MAX_BODY_BYTES) chunks.push(chunk);
    });
    req.on('end', () => {
      const type = mediaType(req.headers['content-type']);
      const encoding = (req.headers['content-encoding'] || 'identity').toLowerCase();
      const entry = {
        transport: 'http',
        path: req.url,
        content_type: req.headers['content-type'] || '',
        content_encoding: encoding,
        headers: headersAsStrings(Object.entries(req.headers)),
      };
      const reply = (status, body, contentType) => {
        res.writeHead(status, { 'Content-Type': contentType, 'Content-Length': body.length });
        res.end(body);
      };
      const fail = (status, message) => {
        log(`HTTP ${req.method} ${req.url} -> ${status}: ${message}`);
        record({ ...entry, unknown_fields: [], request: null, error: message });
        if (type === 'application/x-protobuf') {
          reply(status, decoder.encodeRpcStatus(GRPC_INVALID_ARGUMENT, message), type);
        } else if (type === 'application/json') {
          reply(status, Buffer.from(JSON.stringify({ code: GRPC_INVALID_ARGUMENT, message })), type);
        } else {
          reply(status, Buffer.from(`${message}\n`), 'text/plain');
        }
      };

      if (req.url.split('?')[0] !== TRACES_PATH) return fail(404, `no such path ${req.url}`);
      if (req.method !== 'POST') return fail(405, `method ${req.method} not allowed`);
      if (size > MAX_BODY_BYTES) return fail(413, `body over ${MAX_BODY_BYTES} bytes`);
      if (type !== 'application/x-protobuf' && type !== 'application/json') {
        return fail(415, `unsupported content type "${req.headers['content-type'] || ''}"`);
      }
      let body = Buffer.concat(chunks);
      if (encoding === 'gzip') {
        try {
          body = zlib.gunzipSync(body);
        } catch (err) {
          return fail(400, `gzip: ${err.message}`);
        }
      } else if (encoding !== 'identity') {
        return fail(415, `unsupported content encoding "${encoding}"`);
      }
      let decoded;
      try {
        decoded = decodeBody(type, body);
      } catch (err) {
        if (!(err instanceof decoder.BadRequest)) throw err;
        return fail(400, err.message);
      }
      record({ ...entry, unknown_fields: decoded.unknownFields, request: decoded.request });
      if (type === 'application/json') {
        reply(200, Buffer.from('{}'), type);
      } else {
        reply(200, decoder.encodeEmptyResponse(), type);
      }
    });
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.httpPort, options.host, () => resolve(server));
  });
}

// grpc-js strips content-type, grpc-encoding and a few other headers from the metadata it hands to
// a handler. A 'stream' listener that runs before grpc-js's own copies them under a prefix, so
// that the record shows what the client really sent.
const KEPT_HEADER_PREFIX = 'x-otlp-receiver-kept-';
const HEADERS_GRPC_JS_STRIPS = ['content-type', 'grpc-encoding', 'grpc-accept-encoding',
                                'accept-encoding', 'grpc-timeout', 'te'];

function keepHeadersGrpcJsStrips(server) {
  server.prependListener('stream', (stream, headers) => {
    for (const name of HEADERS_GRPC_JS_STRIPS) {
      if (headers[name] !== undefined) headers[KEPT_HEADER_PREFIX + name] = headers[name];
    }
  });
}

function grpcRequestHeaders(metadata) {
  const headers = {};
  for (const [name, value] of Object.entries(headersAsStrings(Object.entries(metadata.getMap())))) {
    headers[name.startsWith(KEPT_HEADER_PREFIX) ? name.slice(KEPT_HEADER_PREFIX.length) : name] = value;
  }
  return headers;
}

function startGrpcServer(options, record) {
  // Built by hand rather than from a .proto: the request stays raw bytes so that it goes through
  // the same strict decoder as OTLP/HTTP, and a bad one still leaves a line in --out.
  const traceService = {
    Export: {
      path: EXPORT_METHOD_PATH,
      requestStream: false,
      responseStream: false,
      requestSerialize: (bytes) => bytes,
      requestDeserialize: (bytes) => bytes,
      responseSerialize: (response) =>
        Buffer.from(decoder.ExportTraceServiceResponse.encode(response).finish()),
      responseDeserialize: (bytes) => decoder.ExportTraceServiceResponse.decode(bytes),
    },
  };
  const server = new grpc.Server({
    'grpc.max_receive_message_length': MAX_BODY_BYTES,
  });
  server.addService(traceService, {
    Export(call, callback) {
      const headers = grpcRequestHeaders(call.metadata);
      const entry = {
        transport: 'grpc',
        path: EXPORT_METHOD_PATH,
        content_type: headers['content-type'] || '',
        content_encoding: headers['grpc-encoding'] || 'identity',
        headers,
      };
      let decoded;
      try {
        decoded = decoder.decodeProtobufRequest(call.request);
      } catch (err) {
        if (!(err instanceof decoder.BadRequest)) throw err;
        log(`gRPC Export -> INVALID_ARGUMENT: ${err.message}`);
        record({ ...entry, unknown_fields: [], request: null, error: err.message });
        callback({ code: grpc.status.INVALID_ARGUMENT, details: err.message });
        return;
      }
      record({ ...entry, unknown_fields: decoded.unknownFields, request: decoded.request });
      callback(null, {});
    },
  });
  // grpc-js creates its HTTP/2 server inside bindAsync; hook that one creation only.
  const createServer = http2.createServer;
  http2.createServer = (...args) => {
    const http2Server = createServer.apply(http2, args);
    keepHeadersGrpcJsStrips(http2Server);
    return http2Server;
  };
  return new Promise((resolve, reject) => {
    server.bindAsync(`${options.host}:${options.grpcPort}`,
                     grpc.ServerCredentials.createInsecure(), (err, port) => {
      http2.createServer = createServer;
      if (err) return reject(err);
      resolve({ server, port });
    });
  });
}

async function main() {
  const options = parseOptions();
  fs.appendFileSync(options.out, ''); // exists before the ready line, so a reader never races it
  const record = (entry) => {
    if (entry.unknown_fields.length > 0) {
      log(`unknown fields in ${entry.transport} request: ${JSON.stringify(entry.unknown_fields)}`);
    }
    fs.appendFileSync(options.out, `${JSON.stringify(entry)}\n`);
  };

  const httpServer = await startHttpServer(options, record);
  const grpcServer = await startGrpcServer(options, record);

  const shutdown = (signal) => {
    log(`${signal}: shutting down`);
    grpcServer.server.forceShutdown();
    httpServer.closeAllConnections();
    httpServer.close(() => process.exit(0));
  };
  process.once('SIGTERM', () => shutdown('SIGTERM'));
  process.once('SIGINT', () => shutdown('SIGINT'));

  const ready = `${JSON.stringify({ http_port: httpServer.address().port, grpc_port: grpcServer.port })}\n`;
  if (options.ready) {
    fs.writeFileSync(`${options.ready}.tmp`, ready);
    fs.renameSync(`${options.ready}.tmp`, options.ready);
  } else {
    process.stdout.write(ready);
  }
  log(`listening on ${options.host}: ${ready.trim()}`);
}

main().catch((err) => {
  log(err.message);
  process.exit(2);
});
