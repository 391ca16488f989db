'use strict';
// Decodes OTLP ExportTraceServiceRequest bodies (protobuf and OTLP JSON) into one canonical plain
// object, using only the protobufjs code that OpenTelemetry JS generates from the upstream
// opentelemetry-proto files: none of zerotrace's own .proto files is read here.

const path = require('node:path');

// @opentelemetry/otlp-transformer 0.216.0 is the last release that ships this generated module;
// later releases replaced it with a hand-written trace serializer (see README.md).
const GENERATED_ROOT = '@opentelemetry/otlp-transformer/build/src/generated/root.js';
const root = require(GENERATED_ROOT);
// The generated code requires protobufjs/minimal from the transformer's own dependency tree.
const protobuf = require(require.resolve('protobufjs/minimal', {
  paths: [path.dirname(require.resolve(GENERATED_ROOT))],
}));

const proto = root.opentelemetry.proto;
const ExportTraceServiceRequest = proto.collector.trace.v1.ExportTraceServiceRequest;
const ExportTraceServiceResponse = proto.collector.trace.v1.ExportTraceServiceResponse;

const TYPE_NAMES = {
  request: 'opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest',
  resourceSpans: 'opentelemetry.proto.trace.v1.ResourceSpans',
  resource: 'opentelemetry.proto.resource.v1.Resource',
  entityRef: 'opentelemetry.proto.common.v1.EntityRef',
  scopeSpans: 'opentelemetry.proto.trace.v1.ScopeSpans',
  scope: 'opentelemetry.proto.common.v1.InstrumentationScope',
  span: 'opentelemetry.proto.trace.v1.Span',
  event: 'opentelemetry.proto.trace.v1.Span.Event',
  link: 'opentelemetry.proto.trace.v1.Span.Link',
  status: 'opentelemetry.proto.trace.v1.Status',
  keyValue: 'opentelemetry.proto.common.v1.KeyValue',
  anyValue: 'opentelemetry.proto.common.v1.AnyValue',
  arrayValue: 'opentelemetry.proto.common.v1.ArrayValue',
  kvlistValue: 'opentelemetry.proto.common.v1.KeyValueList',
};

class BadRequest extends Error {}

function generatedType(fullName) {
  return fullName.split('.').reduce((ns, part) => ns[part], root);
}

// Field names as the generated classes declare them (own data properties of the prototype; the
// oneof accessor `value` is a getter and is left out). JSON keys are checked against these.
function generatedFieldNames(fullName) {
  const prototype = generatedType(fullName).prototype;
  return new Set(Object.getOwnPropertyNames(prototype).filter((name) => {
    const descriptor = Object.getOwnPropertyDescriptor(prototype, name);
    return 'value' in descriptor && typeof descriptor.value !== 'function';
  }));
}

// ---------------------------------------------------------------------------------------------
// Strict protobuf decoding. protobufjs's generated decoders skip unknown fields silently and read
// a known field without looking at its wire type, so a field written under a wrong number or with
// a wrong wire type would vanish or turn into garbage. The hooks below watch the reader calls the
// generated code makes: an unknown field is reported, a wrong wire type is an error.

const WIRE_TYPES_BY_READ = {
  int32: [0], uint32: [0, 2], sint32: [0], int64: [0], uint64: [0], sint64: [0], bool: [0],
  fixed64: [1], sfixed64: [1], double: [1],
  string: [2], bytes: [2],
  fixed32: [5], sfixed32: [5], float: [5],
};

let decodeState = null; // set only while decodeProtobufRequest runs

function describeTag(tag) {
  return `field ${tag >>> 3} of ${decodeState.types[decodeState.types.length - 1]}`;
}

// A uint32 read is either a varint field or the length of a sub-message; which one is known only
// when the next call is (or is not) a nested decode.
function settlePendingUint32() {
  const tag = decodeState.pendingUint32Tag;
  if (tag === null) return;
  decodeState.pendingUint32Tag = null;
  if ((tag & 7) !== 0) {
    throw new BadRequest(`${describeTag(tag)} has wire type ${tag & 7}, expected 0`);
  }
}

function hookReader(prototype) {
  for (const [method, wireTypes] of Object.entries(WIRE_TYPES_BY_READ)) {
    if (!Object.prototype.hasOwnProperty.call(prototype, method)) continue;
    const read = prototype[method];
    prototype[method] = function hookedRead(...args) {
      const state = decodeState;
      if (state === null || state.nesting > 0) return read.apply(this, args);
      state.nesting++;
      try {
        if (state.expectTag && method === 'uint32') {
          settlePendingUint32();
          const tag = read.apply(this, args);
          state.tag = tag;
          state.expectTag = false;
          return tag;
        }
        const wireType = state.tag & 7;
        if (!wireTypes.includes(wireType)) {
          throw new BadRequest(`${describeTag(state.tag)} has wire type ${wireType}, ` +
                               `expected ${wireTypes.join(' or ')} (read as ${method})`);
        }
        if (method === 'uint32') state.pendingUint32Tag = state.tag;
        state.expectTag = true;
        return read.apply(this, args);
      } finally {
        state.nesting--;
      }
    };
  }
  if (Object.prototype.hasOwnProperty.call(prototype, 'skipType')) {
    const skipType = prototype.skipType;
    prototype.skipType = function hookedSkipType(...args) {
      const state = decodeState;
      if (state === null || state.nesting > 0) return skipType.apply(this, args);
      state.unknownFields.push({
        message: state.types[state.types.length - 1],
        field: state.tag >>> 3,
        wire_type: state.tag & 7,
      });
      state.nesting++;
      try {
        return skipType.apply(this, args);
      } finally {
        state.nesting--;
        state.expectTag = true;
      }
    };
  }
}

function hookNestedDecodes(namespace, prefix) {
  for (const [name, value] of Object.entries(namespace)) {
    if (value === null || (typeof value !== 'object' && typeof value !== 'function')) continue;
    const fullName = `${prefix}.${name}`;
    if (typeof value === 'function' && typeof value.decode === 'function') {
      const decode = value.decode;
      value.decode = function hookedDecode(reader, length, error) {
        const state = decodeState;
        if (state === null) return decode.call(this, reader, length, error);
        if (length !== undefined) {
          // Called as Type.decode(reader, reader.uint32()): that uint32 was this field's length.
          const tag = state.pendingUint32Tag;
          state.pendingUint32Tag = null;
          if (tag !== null && (tag & 7) !== 2) {
            throw new BadRequest(`${describeTag(tag)} has wire type ${tag & 7}, expected 2 ` +
                                 `(a ${fullName})`);
          }
        }
        state.types.push(fullName);
        try {
          const message = decode.call(this, reader, length, error);
          settlePendingUint32();
          return message;
        } finally {
          state.types.pop();
        }
      };
    }
    if (typeof value === 'object' || typeof value === 'function') hookNestedDecodes(value, fullName);
  }
}

hookReader(protobuf.Reader.prototype);
hookReader(protobuf.BufferReader.prototype);
hookNestedDecodes(root.opentelemetry, 'opentelemetry');

function decodeStrict(bytes) {
  decodeState = {
    types: [], tag: 0, expectTag: true, pendingUint32Tag: null, nesting: 0, unknownFields: [],
  };
  try {
    const message = ExportTraceServiceRequest.decode(bytes);
    return { message, unknownFields: decodeState.unknownFields };
  } catch (err) {
    if (err instanceof BadRequest) throw err;
    throw new BadRequest(`protobuf decode failed: ${err.message}`);
  } finally {
    decodeState = null;
  }
}

// ---------------------------------------------------------------------------------------------
// Normalisation. One walker for both encodings; what differs is how a leaf value is read, which
// the two leaf readers below supply. Missing fields get proto3 defaults.

function isMissing(value) {
  return value === undefined || value === null;
}

function decimalString(value, where) {
  if (typeof value === 'string' && /^-?[0-9]+$/.test(value)) return BigInt(value).toString();
  if (typeof value === 'number' && Number.isInteger(value)) {
    if (!Number.isSafeInteger(value)) {
      throw new BadRequest(`${where}: ${value} is a JSON number above 2^53 and has lost ` +
                           'precision; send 64-bit integers as decimal strings');
    }
    return String(value);
  }
  throw new BadRequest(`${where}: expected a 64-bit integer, got ${JSON.stringify(value)}`);
}

function finiteOrName(value) {
  return Number.isFinite(value) ? value : String(value);
}

const protobufLeaves = {
  // Input is ExportTraceServiceRequest.toObject(message, {longs: String, enums: Number}):
  // bytes stay Buffers, 64-bit integers are decimal strings, enums numbers.
  id: (value) => (isMissing(value) ? '' : Buffer.from(value).toString('hex')),
  bytes: (value) => (isMissing(value) ? '' : Buffer.from(value).toString('base64')),
  int64: (value) => (isMissing(value) ? '0' : String(value)),
  uint32: (value) => (isMissing(value) ? 0 : value),
  enumValue: (value) => (isMissing(value) ? 0 : value),
  double: (value) => (isMissing(value) ? 0 : finiteOrName(value)),
  string: (value) => (isMissing(value) ? '' : value),
  bool: (value) => (isMissing(value) ? false : value),
  checkKeys: () => {}, // unknown protobuf fields are found by the reader hooks
};

function jsonLeaves(unknownFields) {
  return {
    id(value, where) {
      if (isMissing(value)) return '';
      if (typeof value !== 'string' || !/^([0-9a-fA-F]{2})*$/.test(value)) {
        throw new BadRequest(`${where}: expected a hex string, got ${JSON.stringify(value)}`);
      }
      return value.toLowerCase();
    },
    bytes(value, where) {
      if (isMissing(value)) return '';
      if (typeof value !== 'string' || !/^[A-Za-z0-9+/_-]*=*$/.test(value)) {
        throw new BadRequest(`${where}: expected base64, got ${JSON.stringify(value)}`);
      }
      return Buffer.from(value, 'base64').toString('base64');
    },
    int64: (value, where) => (isMissing(value) ? '0' : decimalString(value, where)),
    // Counts and flags; the protobuf JSON mapping lets 32-bit integers be decimal strings too.
    uint32(value, where) {
      if (isMissing(value)) return 0;
      const number = typeof value === 'string' && /^[0-9]+$/.test(value) ? Number(value) : value;
      if (Number.isInteger(number) && number >= 0 && number <= 0xffffffff) return number;
      throw new BadRequest(`${where}: expected an unsigned 32-bit integer, got ${JSON.stringify(value)}`);
    },
    enumValue(value, where) {
      if (isMissing(value)) return 0;
      if (Number.isInteger(value)) return value;
      // OTLP JSON writes enums as integers, never by name.
      throw new BadRequest(`${where}: expected an integer, got ${JSON.stringify(value)}`);
    },
    double(value, where) {
      if (isMissing(value)) return 0;
      if (typeof value === 'number') return value;
      if (['NaN', 'Infinity', '-Infinity'].includes(value)) return value;
      if (typeof value === 'string' && value.trim() !== '' && Number.isFinite(Number(value))) {
        return Number(value);
      }
      throw new BadRequest(`${where}: expected a number, got ${JSON.stringify(value)}`);
    },
    string(value, where) {
      if (isMissing(value)) return '';
      if (typeof value !== 'string') {
        throw new BadRequest(`${where}: expected a string, got ${JSON.stringify(value)}`);
      }
      return value;
    },
    bool(value, where) {
      if (isMissing(value)) return false;
      if (typeof value !== 'boolean') {
        throw new BadRequest(`${where}: expected true or false, got ${JSON.stringify(value)}`);
      }
      return value;
    },
    checkKeys(object, typeName, where) {
      const known = knownJsonFields[typeName];
      for (const key of Object.keys(object)) {
        if (!known.has(key)) unknownFields.push({ message: TYPE_NAMES[typeName], field: key, path: where });
      }
    },
  };
}

const knownJsonFields = Object.fromEntries(
  Object.entries(TYPE_NAMES).map(([key, fullName]) => [key, generatedFieldNames(fullName)]));

function objectAt(value, where) {
  if (isMissing(value)) return {};
  if (typeof value !== 'object' || Array.isArray(value)) {
    throw new BadRequest(`${where}: expected an object, got ${JSON.stringify(value)}`);
  }
  return value;
}

function listAt(value, where, normaliseItem) {
  if (isMissing(value)) return [];
  if (!Array.isArray(value)) {
    throw new BadRequest(`${where}: expected an array, got ${JSON.stringify(value)}`);
  }
  return value.map((item, index) => normaliseItem(item, `${where}[${index}]`));
}

function normaliser(leaves) {
  function message(value, typeName, where) {
    const object = objectAt(value, where);
    leaves.checkKeys(object, typeName, where);
    return object;
  }

  function anyValue(value, where) {
    const v = message(value, 'anyValue', where);
    const set = ['stringValue', 'boolValue', 'intValue', 'doubleValue', 'arrayValue',
                 'kvlistValue', 'bytesValue'].filter((name) => !isMissing(v[name]));
    if (set.length > 1) throw new BadRequest(`${where}: AnyValue has more than one value: ${set}`);
    if (set.length === 0) return {};
    const name = set[0];
    const at = `${where}.${name}`;
    switch (name) {
      case 'stringValue': return { stringValue: leaves.string(v[name], at) };
      case 'boolValue': return { boolValue: leaves.bool(v[name], at) };
      case 'intValue': return { intValue: leaves.int64(v[name], at) };
      case 'doubleValue': return { doubleValue: leaves.double(v[name], at) };
      case 'bytesValue': return { bytesValue: leaves.bytes(v[name], at) };
      case 'arrayValue': {
        const array = message(v[name], 'arrayValue', at);
        return { arrayValue: { values: listAt(array.values, `${at}.values`, anyValue) } };
      }
      default: {
        const list = message(v[name], 'kvlistValue', at);
        return { kvlistValue: { values: listAt(list.values, `${at}.values`, keyValue) } };
      }
    }
  }

  function keyValue(value, where) {
    const kv = message(value, 'keyValue', where);
    return { key: leaves.string(kv.key, `${where}.key`), value: anyValue(kv.value, `${where}.value`) };
  }

  const attributes = (value, where) => listAt(value, where, keyValue);
  const uint32 = (value, where) => leaves.uint32(value, where);

  function entityRef(value, where) {
    const e = message(value, 'entityRef', where);
    return {
      schemaUrl: leaves.string(e.schemaUrl, `${where}.schemaUrl`),
      type: leaves.string(e.type, `${where}.type`),
      idKeys: listAt(e.idKeys, `${where}.idKeys`, leaves.string),
      descriptionKeys: listAt(e.descriptionKeys, `${where}.descriptionKeys`, leaves.string),
    };
  }

  function resource(value, where) {
    const r = message(value, 'resource', where);
    return {
      attributes: attributes(r.attributes, `${where}.attributes`),
      droppedAttributesCount: uint32(r.droppedAttributesCount, `${where}.droppedAttributesCount`),
      entityRefs: listAt(r.entityRefs, `${where}.entityRefs`, entityRef),
    };
  }

  function scope(value, where) {
    const s = message(value, 'scope', where);
    return {
      name: leaves.string(s.name, `${where}.name`),
      version: leaves.string(s.version, `${where}.version`),
      attributes: attributes(s.attributes, `${where}.attributes`),
      droppedAttributesCount: uint32(s.droppedAttributesCount, `${where}.droppedAttributesCount`),
    };
  }

  function event(value, where) {
    const e = message(value, 'event', where);
    return {
      timeUnixNano: leaves.int64(e.timeUnixNano, `${where}.timeUnixNano`),
      name: leaves.string(e.name, `${where}.name`),
      attributes: attributes(e.attributes, `${where}.attributes`),
      droppedAttributesCount: uint32(e.droppedAttributesCount, `${where}.droppedAttributesCount`),
    };
  }

  function link(value, where) {
    const l = message(value, 'link', where);
    return {
      traceId: leaves.id(l.traceId, `${where}.traceId`),
      spanId: leaves.id(l.spanId, `${where}.spanId`),
      traceState: leaves.string(l.traceState, `${where}.traceState`),
      attributes: attributes(l.attributes, `${where}.attributes`),
      droppedAttributesCount: uint32(l.droppedAttributesCount, `${where}.droppedAttributesCount`),
      flags: uint32(l.flags, `${where}.flags`),
    };
  }

  function status(value, where) {
    const s = message(value, 'status', where);
    return {
      code: leaves.enumValue(s.code, `${where}.code`),
      message: leaves.string(s.message, `${where}.message`),
    };
  }

  function span(value, where) {
    const s = message(value, 'span', where);
    return {
      traceId: leaves.id(s.traceId, `${where}.traceId`),
      spanId: leaves.id(s.spanId, `${where}.spanId`),
      parentSpanId: leaves.id(s.parentSpanId, `${where}.parentSpanId`),
      traceState: leaves.string(s.traceState, `${where}.traceState`),
      flags: uint32(s.flags, `${where}.flags`),
      name: leaves.string(s.name, `${where}.name`),
      kind: leaves.enumValue(s.kind, `${where}.kind`),
      startTimeUnixNano: leaves.int64(s.startTimeUnixNano, `${where}.startTimeUnixNano`),
      endTimeUnixNano: leaves.int64(s.endTimeUnixNano, `${where}.endTimeUnixNano`),
      attributes: attributes(s.attributes, `${where}.attributes`),
      droppedAttributesCount: uint32(s.droppedAttributesCount, `${where}.droppedAttributesCount`),
      events: listAt(s.events, `${where}.events`, event),
      droppedEventsCount: uint32(s.droppedEventsCount, `${where}.droppedEventsCount`),
      links: listAt(s.links, `${where}.links`, link),
      droppedLinksCount: uint32(s.droppedLinksCount, `${where}.droppedLinksCount`),
      status: status(s.status, `${where}.status`),
    };
  }

  function scopeSpans(value, where) {
    const s = message(value, 'scopeSpans', where);
    return {
      scope: scope(s.scope, `${where}.scope`),
      spans: listAt(s.spans, `${where}.spans`, span),
      schemaUrl: leaves.string(s.schemaUrl, `${where}.schemaUrl`),
    };
  }

  function resourceSpans(value, where) {
    const r = message(value, 'resourceSpans', where);
    return {
      resource: resource(r.resource, `${where}.resource`),
      scopeSpans: listAt(r.scopeSpans, `${where}.scopeSpans`, scopeSpans),
      schemaUrl: leaves.string(r.schemaUrl, `${where}.schemaUrl`),
    };
  }

  return function request(value) {
    const r = message(value, 'request', '$');
    return { resourceSpans: listAt(r.resourceSpans, 'resourceSpans', resourceSpans) };
  };
}

const normaliseProtobufObject = normaliser(protobufLeaves);

// Returns {request, unknownFields}; throws BadRequest for a body that is not a valid request.
function decodeProtobufRequest(bytes) {
  const { message, unknownFields } = decodeStrict(bytes);
  const object = ExportTraceServiceRequest.toObject(message, { longs: String, enums: Number });
  return { request: normaliseProtobufObject(object), unknownFields };
}

function decodeJsonRequest(bytes) {
  let parsed;
  try {
    parsed = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch (err) {
    throw new BadRequest(`JSON parse failed: ${err.message}`);
  }
  const unknownFields = [];
  const request = normaliser(jsonLeaves(unknownFields))(parsed);
  return { request, unknownFields };
}

function encodeEmptyResponse() {
  return Buffer.from(ExportTraceServiceResponse.encode({}).finish());
}

// google.rpc.Status {int32 code = 1; string message = 2;}: the body OTLP/HTTP asks for on errors.
// The generated module has no Status type, and two fields do not justify a schema.
function encodeRpcStatus(code, message) {
  return Buffer.from(protobuf.Writer.create().uint32(8).int32(code).uint32(18).string(message).finish());
}

module.exports = {
  BadRequest,
  ExportTraceServiceRequest,
  ExportTraceServiceResponse,
  decodeProtobufRequest,
  decodeJsonRequest,
  encodeEmptyResponse,
  encodeRpcStatus,
};
