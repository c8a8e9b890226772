"""A small reader for Kubernetes protobuf request bodies (``application/vnd.kubernetes.protobuf``).

client-go's typed clients (helm's release storage, ``--create-namespace``, kubectl for some
calls) send built-in objects as protobuf, not JSON. A body is the 4-byte magic ``k8s\\0``, then a
``runtime.Unknown`` message whose ``raw`` field holds the typed object. This module decodes the
protobuf wire format generically and maps field numbers to JSON field names with a table per
message type. The field numbers are facts from the upstream ``generated.proto`` files:
k8s.io/apimachinery ``pkg/runtime/generated.proto`` (Unknown, TypeMeta),
``pkg/apis/meta/v1/generated.proto`` (ObjectMeta, OwnerReference, Time, DeleteOptions,
Preconditions, ManagedFieldsEntry) and k8s.io/api ``core/v1/generated.proto`` (Secret,
ConfigMap, Namespace). Only what clients are seen to send is mapped; an unmapped kind is an
error (the API server answers 415), never a silent partial object.

Like the real API server, string fields that protobuf always encodes (even when empty) are
dropped when empty, so an empty ``metadata.namespace`` counts as unset.
"""
from __future__ import annotations

import base64
import datetime
from typing import Any, Iterator, Optional

MAGIC = b"k8s\x00"


class ProtobufError(ValueError):
    """The body is not a Kubernetes protobuf message this reader can decode."""


# --------------------------------------------------------------------------- #
# Wire format
# --------------------------------------------------------------------------- #

def _varint(buf: bytes, pos: int) -> tuple:
    result = shift = 0
    while True:
        if pos >= len(buf):
            raise ProtobufError("truncated varint")
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise ProtobufError("varint too long")


def fields(buf: bytes) -> Iterator[tuple]:
    """Yields (field number, wire type, value): int for varints/fixed, bytes for length-delimited."""
    pos = 0
    while pos < len(buf):
        key, pos = _varint(buf, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(buf, pos)
        elif wire == 1:
            value, pos = int.from_bytes(buf[pos:pos + 8], "little"), pos + 8
        elif wire == 2:
            length, pos = _varint(buf, pos)
            if pos + length > len(buf):
                raise ProtobufError("truncated length-delimited field")
            value, pos = buf[pos:pos + length], pos + length
        elif wire == 5:
            value, pos = int.from_bytes(buf[pos:pos + 4], "little"), pos + 4
        else:
            raise ProtobufError(f"unsupported wire type {wire}")
        yield number, wire, value


def _signed(value: int) -> int:
    return value - (1 << 64) if value >= 1 << 63 else value


# --------------------------------------------------------------------------- #
# Message tables: field number -> (json name, type)
# types: "string", "bytes" (base64 in JSON), "int", "bool", "time", "map:string", "map:bytes",
# "[]string", a message name, or "[]" + a message name
# --------------------------------------------------------------------------- #

MESSAGES: dict = {
    "TypeMeta": {1: ("apiVersion", "string"), 2: ("kind", "string")},
    "ObjectMeta": {
        1: ("name", "string"), 2: ("generateName", "string"), 3: ("namespace", "string"),
        4: ("selfLink", "string"), 5: ("uid", "string"), 6: ("resourceVersion", "string"),
        7: ("generation", "int"), 8: ("creationTimestamp", "time"), 9: ("deletionTimestamp", "time"),
        10: ("deletionGracePeriodSeconds", "int"), 11: ("labels", "map:string"),
        12: ("annotations", "map:string"), 13: ("ownerReferences", "[]OwnerReference"),
        14: ("finalizers", "[]string"), 17: ("managedFields", "[]ManagedFieldsEntry"),
    },
    "OwnerReference": {
        1: ("kind", "string"), 3: ("name", "string"), 4: ("uid", "string"), 5: ("apiVersion", "string"),
        6: ("controller", "bool"), 7: ("blockOwnerDeletion", "bool"),
    },
    "ManagedFieldsEntry": {
        1: ("manager", "string"), 2: ("operation", "string"), 3: ("apiVersion", "string"),
        4: ("time", "time"), 6: ("fieldsType", "string"), 7: ("fieldsV1", "FieldsV1"),
        8: ("subresource", "string"),
    },
    "FieldsV1": {1: ("Raw", "bytes")},
    "Secret": {
        1: ("metadata", "ObjectMeta"), 2: ("data", "map:bytes"), 3: ("type", "string"),
        4: ("stringData", "map:string"), 5: ("immutable", "bool"),
    },
    "ConfigMap": {
        1: ("metadata", "ObjectMeta"), 2: ("data", "map:string"), 3: ("binaryData", "map:bytes"),
        4: ("immutable", "bool"),
    },
    "Namespace": {1: ("metadata", "ObjectMeta"), 2: ("spec", "NamespaceSpec"), 3: ("status", "NamespaceStatus")},
    "NamespaceSpec": {1: ("finalizers", "[]string")},
    "NamespaceStatus": {1: ("phase", "string")},
    "DeleteOptions": {
        1: ("gracePeriodSeconds", "int"), 2: ("preconditions", "Preconditions"), 3: ("orphanDependents", "bool"),
        4: ("propagationPolicy", "string"), 5: ("dryRun", "[]string"),
    },
    "Preconditions": {1: ("uid", "string"), 2: ("resourceVersion", "string")},
}

# kind (as sent in runtime.Unknown's TypeMeta) -> message table
KINDS = {"Secret": "Secret", "ConfigMap": "ConfigMap", "Namespace": "Namespace", "DeleteOptions": "DeleteOptions"}


def _time(buf: bytes) -> str:
    seconds = 0
    for number, _wire, value in fields(buf):
        if number == 1:
            seconds = _signed(value)
    return datetime.datetime.fromtimestamp(seconds, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _map_entry(buf: bytes, as_bytes: bool) -> tuple:
    key, value = "", b"" if as_bytes else ""
    for number, _wire, raw in fields(buf):
        if number == 1:
            key = raw.decode()
        elif number == 2:
            value = raw if as_bytes else raw.decode()
    if as_bytes:
        value = base64.b64encode(value).decode()
    return key, value


def decode_message(buf: bytes, message: str) -> dict:
    table = MESSAGES[message]
    out: dict = {}
    for number, wire, raw in fields(buf):
        if number not in table:
            raise ProtobufError(f"{message}: field {number} is not known to the emulator's protobuf reader")
        name, ftype = table[number]
        if ftype == "string":
            out[name] = raw.decode()
        elif ftype == "bytes":
            out[name] = base64.b64encode(raw).decode()
        elif ftype == "int":
            out[name] = _signed(raw)
        elif ftype == "bool":
            out[name] = bool(raw)
        elif ftype == "time":
            out[name] = _time(raw)
        elif ftype.startswith("map:"):
            key, value = _map_entry(raw, ftype == "map:bytes")
            out.setdefault(name, {})[key] = value
        elif ftype == "[]string":
            out.setdefault(name, []).append(raw.decode())
        elif ftype.startswith("[]"):
            out.setdefault(name, []).append(decode_message(raw, ftype[2:]))
        else:
            if wire != 2:
                raise ProtobufError(f"{message}.{name}: expected a message")
            out[name] = decode_message(raw, ftype)
    # protobuf encodes empty strings; JSON clients omit them (the API server treats both alike)
    return {k: v for k, v in out.items() if v != ""}


def decode(body: bytes) -> dict:
    """Decodes a ``k8s\\0`` + runtime.Unknown body into the object's JSON form."""
    if not body.startswith(MAGIC):
        raise ProtobufError("missing the k8s\\0 protobuf envelope")
    type_meta: dict = {}
    raw: Optional[bytes] = None
    for number, _wire, value in fields(body[len(MAGIC):]):
        if number == 1:
            type_meta = decode_message(value, "TypeMeta")
        elif number == 2:
            raw = value
        elif number == 3 and value:
            raise ProtobufError(f"unsupported contentEncoding {value!r}")
    kind = type_meta.get("kind", "")
    if kind not in KINDS:
        raise ProtobufError(f"the emulator's protobuf reader does not know the kind {kind or '(none)'!r}")
    obj: dict = {"apiVersion": type_meta.get("apiVersion") or "v1", "kind": kind}
    obj.update(decode_message(raw or b"", KINDS[kind]))
    return obj


def _encode_varint(value: int) -> bytes:
    out = bytearray()
    value &= (1 << 64) - 1
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def encode_field(number: int, value: Any) -> bytes:
    """Encodes one field (str/bytes length-delimited, bool/int varint): for tests."""
    if isinstance(value, str):
        value = value.encode()
    if isinstance(value, (bytes, bytearray)):
        return _encode_varint(number << 3 | 2) + _encode_varint(len(value)) + bytes(value)
    return _encode_varint(number << 3) + _encode_varint(int(value))
