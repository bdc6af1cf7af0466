"""Decode the protobuf request bodies kubectl >= 1.32 sends into the JSON-shaped dict a JSON client sends.

Mirrors ``k8s.io/apimachinery/pkg/runtime/serializer/protobuf`` (the ``k8s\\x00`` magic and the
``runtime.Unknown`` envelope) and the gogo-protobuf ``Unmarshal`` methods generated from
``k8s.io/api/<group>/<version>/generated.proto``. Instead of generated code there is a wire-format
reader (varint, length-delimited, fixed32/64) and a declarative schema table: one ``Message`` per Go
struct, field number -> JSON name and type, with the numbers of ``generated.proto`` at v0.33.

Go's marshaller writes every non-pointer field even when it is zero, so the decoder drops zero values
the way JSON ``omitempty`` would, except for fields marked ``keep``: Go pointers (``replicas: 0`` is
meaningful, ``emptyDir: {}`` too) and fields whose JSON tag lacks ``omitempty`` (``containerPort``,
``value`` of a PriorityClass). Empty non-pointer structs (``status: {}``, ``resources: {}``) and zero
``metav1.Time`` (``creationTimestamp: null``) are dropped.

Left out: only the kinds that kubectl writes through its typed clients are in :data:`KINDS` (what
``create <generator>``, ``create token``, ``auth can-i|whoami`` and ``drain`` send); statuses, managed
fields, the deprecated in-tree volume plugins, ephemeral containers, resource claims, Job failure and
success policies. Unknown field numbers are skipped, as protobuf readers do, so such fields vanish
silently. ``contentEncoding`` (never set by client-go) and protobuf responses are not supported.
"""

from __future__ import annotations

import base64
import dataclasses
from collections.abc import Callable, Iterator
from typing import Any

from labkit.apimachinery.timeutil import rfc3339, unix

MAGIC = b"k8s\x00"

# Protobuf wire types (https://protobuf.dev/programming-guides/encoding/).
VARINT, I64, LEN, I32 = 0, 1, 2, 5


class ProtobufError(ValueError):
    """The body is not a Kubernetes protobuf message this decoder understands."""


# --- wire format -----------------------------------------------------------------------------------


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    for i in range(pos, min(pos + 10, len(data))):
        result |= (data[i] & 0x7F) << shift
        if data[i] < 0x80:
            return result, i + 1
        shift += 7
    raise ProtobufError(f"truncated or overlong varint at byte {pos}")


def _take(data: bytes, pos: int, size: int) -> tuple[bytes, int]:
    if pos + size > len(data):
        raise ProtobufError(f"field of {size} bytes at byte {pos} runs past the end of the message")
    return data[pos:pos + size], pos + size


def _fields(data: bytes) -> Iterator[tuple[int, int, int | bytes]]:
    """Yield ``(field number, wire type, value)``; the value is an int for varints, else raw bytes."""
    pos = 0
    while pos < len(data):
        key, pos = _varint(data, pos)
        number, wire = key >> 3, key & 7
        if number == 0:
            raise ProtobufError(f"field number 0 at byte {pos}")
        value: int | bytes
        if wire == VARINT:
            value, pos = _varint(data, pos)
        elif wire == LEN:
            size, pos = _varint(data, pos)
            value, pos = _take(data, pos, size)
        elif wire in (I64, I32):
            value, pos = _take(data, pos, 8 if wire == I64 else 4)
        else:  # 3 and 4 are proto2 groups, which Kubernetes never uses
            raise ProtobufError(f"unsupported wire type {wire} for field {number}")
        yield number, wire, value


# --- schema ----------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class Scalar:
    """A value with a fixed JSON rendering; Quantity, Time and IntOrString are small messages on the wire."""

    name: str
    wire: int
    convert: Callable[[Any], Any]


@dataclasses.dataclass(frozen=True, slots=True)
class Map:
    """``map<K, V>``: on the wire a repeated entry message ``{1: key, 2: value}``."""

    key: Scalar
    value: Scalar | Message


@dataclasses.dataclass(frozen=True, slots=True)
class Field:
    name: str  # the JSON name; "" for an embedded struct whose fields JSON inlines (VolumeSource)
    type: Scalar | Map | Message
    repeated: bool = False
    keep: bool = False  # emit even when zero: a Go pointer, or a JSON tag without omitempty


Message = dict[int, Field]


def _int64(value: int) -> int:
    """int32 and int64 are both sent as 64-bit two's complement varints."""
    return value - (1 << 64) if value >= 1 << 63 else value


def _utf8(raw: bytes) -> str:
    try:
        return raw.decode()
    except UnicodeDecodeError as err:
        raise ProtobufError(f"string field is not UTF-8: {err}") from None


def _quantity(raw: bytes) -> str:
    return _message(raw, _QUANTITY).get("string", "0")  # resource.Quantity marshals its String()


def _time(raw: bytes) -> str | None:
    """metav1.Time: an empty message is the zero time (JSON null); nanoseconds are ignored, as in Go."""
    if not raw:
        return None
    seconds = _message(raw, _TIMESTAMP).get("seconds", 0)
    try:
        return rfc3339(unix(seconds))
    except (OverflowError, OSError, ValueError):
        raise ProtobufError(f"timestamp out of range: {seconds}") from None


def _int_or_string(raw: bytes) -> int | str:
    value = _message(raw, _INT_OR_STRING)
    return value.get("strVal", "") if value.get("type") == 1 else value.get("intVal", 0)


STRING = Scalar("string", LEN, _utf8)
BYTES = Scalar("bytes", LEN, lambda raw: base64.b64encode(raw).decode())  # []byte is base64 in JSON
INT = Scalar("int", VARINT, _int64)
BOOL = Scalar("bool", VARINT, bool)
QUANTITY = Scalar("Quantity", LEN, _quantity)
TIME = Scalar("Time", LEN, _time)
INT_OR_STRING = Scalar("IntOrString", LEN, _int_or_string)
RAW = Scalar("raw", LEN, bytes)

_QUANTITY: Message = {1: Field("string", STRING)}
_TIMESTAMP: Message = {1: Field("seconds", INT), 2: Field("nanos", INT)}
_INT_OR_STRING: Message = {1: Field("type", INT), 2: Field("intVal", INT), 3: Field("strVal", STRING)}


# --- decoding --------------------------------------------------------------------------------------

_ZEROS: tuple[Any, ...] = ("", 0, {}, [])  # False == 0, so this covers bools too


def _value(kind: Scalar | Message, wire: int, value: int | bytes) -> Any:
    expected = kind.wire if isinstance(kind, Scalar) else LEN
    if wire != expected:
        raise ProtobufError(f"wire type {wire} where {expected} was expected")
    if isinstance(kind, Scalar):
        return kind.convert(value)
    assert isinstance(value, bytes)  # wire type LEN
    return _message(value, kind)


def _repeated(kind: Scalar | Message, wire: int, value: int | bytes) -> list[Any]:
    if isinstance(kind, Scalar) and kind.wire == VARINT and wire == LEN:  # a packed list of varints
        assert isinstance(value, bytes)
        pos, items = 0, []
        while pos < len(value):
            item, pos = _varint(value, pos)
            items.append(kind.convert(item))
        return items
    return [_value(kind, wire, value)]


def _default(kind: Scalar | Message) -> Any:
    """The value of a map key or value that the entry leaves out."""
    return kind.convert(0 if kind.wire == VARINT else b"") if isinstance(kind, Scalar) else {}


def _map_entry(kind: Map, wire: int, value: int | bytes) -> tuple[Any, Any]:
    key, item = _default(kind.key), _default(kind.value)
    for number, entry_wire, entry_value in _fields(_value(RAW, wire, value)):
        if number == 1:
            key = _value(kind.key, entry_wire, entry_value)
        elif number == 2:
            item = _value(kind.value, entry_wire, entry_value)
    return key, item


def _message(data: bytes, schema: Message) -> dict[str, Any]:
    obj: dict[str, Any] = {}
    for number, wire, value in _fields(data):
        field = schema.get(number)
        if field is None:
            continue  # a field this table does not know: skip it, as any protobuf reader does
        if isinstance(field.type, Map):
            key, item = _map_entry(field.type, wire, value)
            obj.setdefault(field.name, {})[key] = item
        elif field.repeated:
            obj.setdefault(field.name, []).extend(_repeated(field.type, wire, value))
        elif not field.name:
            obj.update(_value(field.type, wire, value))
        else:
            decoded = _value(field.type, wire, value)
            if decoded is None or (not field.keep and decoded in _ZEROS):
                obj.pop(field.name, None)
            else:
                obj[field.name] = decoded
    return obj


def decode(body: bytes) -> dict[str, Any]:
    """Decode a ``application/vnd.kubernetes.protobuf`` request body into its JSON object.

    Raises :class:`ProtobufError` for a body without the magic prefix, malformed bytes, or a kind
    that is not in :data:`KINDS`.
    """
    if not body.startswith(MAGIC):
        raise ProtobufError("body does not start with the k8s protobuf magic")
    unknown = _message(body[len(MAGIC):], _UNKNOWN)
    type_meta = unknown.get("typeMeta", {})
    api_version, kind = type_meta.get("apiVersion", ""), type_meta.get("kind", "")
    if unknown.get("contentEncoding"):
        raise ProtobufError(f"unsupported contentEncoding {unknown['contentEncoding']!r}")
    schema = KINDS.get((api_version, kind))
    if schema is None:
        raise ProtobufError(f"no protobuf schema for kind {kind!r} in {api_version!r}")
    return {"kind": kind, "apiVersion": api_version, **_message(unknown.get("raw", b""), schema)}


# --- schema table ----------------------------------------------------------------------------------
# One entry per Go struct, fields in field-number order. Generated from the json and protobuf struct
# tags of k8s.io/api and k8s.io/apimachinery v0.33 types.go, and checked against generated.proto.

_TYPE_META: Message = {1: Field("apiVersion", STRING), 2: Field("kind", STRING)}
_UNKNOWN: Message = {  # runtime.Unknown
    1: Field("typeMeta", _TYPE_META),
    2: Field("raw", RAW),
    3: Field("contentEncoding", STRING),
    4: Field("contentType", STRING),
}

OWNER_REFERENCE: Message = {
    1: Field("kind", STRING, keep=True),
    3: Field("name", STRING, keep=True),
    4: Field("uid", STRING, keep=True),
    5: Field("apiVersion", STRING, keep=True),
    6: Field("controller", BOOL, keep=True),
    7: Field("blockOwnerDeletion", BOOL, keep=True),
}

OBJECT_META: Message = {
    1: Field("name", STRING),
    2: Field("generateName", STRING),
    3: Field("namespace", STRING),
    5: Field("uid", STRING),
    6: Field("resourceVersion", STRING),
    7: Field("generation", INT),
    8: Field("creationTimestamp", TIME),
    9: Field("deletionTimestamp", TIME, keep=True),
    10: Field("deletionGracePeriodSeconds", INT, keep=True),
    11: Field("labels", Map(STRING, STRING)),
    12: Field("annotations", Map(STRING, STRING)),
    13: Field("ownerReferences", OWNER_REFERENCE, repeated=True),
    14: Field("finalizers", STRING, repeated=True),
}

LABEL_SELECTOR_REQUIREMENT: Message = {
    1: Field("key", STRING, keep=True),
    2: Field("operator", STRING, keep=True),
    3: Field("values", STRING, repeated=True),
}

LABEL_SELECTOR: Message = {
    1: Field("matchLabels", Map(STRING, STRING)),
    2: Field("matchExpressions", LABEL_SELECTOR_REQUIREMENT, repeated=True),
}

HOST_PATH_VOLUME_SOURCE: Message = {
    1: Field("path", STRING, keep=True),
    2: Field("type", STRING, keep=True),
}

EMPTY_DIR_VOLUME_SOURCE: Message = {
    1: Field("medium", STRING),
    2: Field("sizeLimit", QUANTITY, keep=True),
}

KEY_TO_PATH: Message = {
    1: Field("key", STRING, keep=True),
    2: Field("path", STRING, keep=True),
    3: Field("mode", INT, keep=True),
}

SECRET_VOLUME_SOURCE: Message = {
    1: Field("secretName", STRING),
    2: Field("items", KEY_TO_PATH, repeated=True),
    3: Field("defaultMode", INT, keep=True),
    4: Field("optional", BOOL, keep=True),
}

NFS_VOLUME_SOURCE: Message = {
    1: Field("server", STRING, keep=True),
    2: Field("path", STRING, keep=True),
    3: Field("readOnly", BOOL),
}

PERSISTENT_VOLUME_CLAIM_VOLUME_SOURCE: Message = {
    1: Field("claimName", STRING, keep=True),
    2: Field("readOnly", BOOL),
}

OBJECT_FIELD_SELECTOR: Message = {
    1: Field("apiVersion", STRING),
    2: Field("fieldPath", STRING, keep=True),
}

RESOURCE_FIELD_SELECTOR: Message = {
    1: Field("containerName", STRING),
    2: Field("resource", STRING, keep=True),
    3: Field("divisor", QUANTITY),
}

DOWNWARD_API_VOLUME_FILE: Message = {
    1: Field("path", STRING, keep=True),
    2: Field("fieldRef", OBJECT_FIELD_SELECTOR, keep=True),
    3: Field("resourceFieldRef", RESOURCE_FIELD_SELECTOR, keep=True),
    4: Field("mode", INT, keep=True),
}

DOWNWARD_API_VOLUME_SOURCE: Message = {
    1: Field("items", DOWNWARD_API_VOLUME_FILE, repeated=True),
    2: Field("defaultMode", INT, keep=True),
}

LOCAL_OBJECT_REFERENCE: Message = {
    1: Field("name", STRING),
}

CONFIG_MAP_VOLUME_SOURCE: Message = {
    1: Field("", LOCAL_OBJECT_REFERENCE),
    2: Field("items", KEY_TO_PATH, repeated=True),
    3: Field("defaultMode", INT, keep=True),
    4: Field("optional", BOOL, keep=True),
}

SECRET_PROJECTION: Message = {
    1: Field("", LOCAL_OBJECT_REFERENCE),
    2: Field("items", KEY_TO_PATH, repeated=True),
    4: Field("optional", BOOL, keep=True),
}

DOWNWARD_API_PROJECTION: Message = {
    1: Field("items", DOWNWARD_API_VOLUME_FILE, repeated=True),
}

CONFIG_MAP_PROJECTION: Message = {
    1: Field("", LOCAL_OBJECT_REFERENCE),
    2: Field("items", KEY_TO_PATH, repeated=True),
    4: Field("optional", BOOL, keep=True),
}

SERVICE_ACCOUNT_TOKEN_PROJECTION: Message = {
    1: Field("audience", STRING),
    2: Field("expirationSeconds", INT, keep=True),
    3: Field("path", STRING, keep=True),
}

VOLUME_PROJECTION: Message = {
    1: Field("secret", SECRET_PROJECTION, keep=True),
    2: Field("downwardAPI", DOWNWARD_API_PROJECTION, keep=True),
    3: Field("configMap", CONFIG_MAP_PROJECTION, keep=True),
    4: Field("serviceAccountToken", SERVICE_ACCOUNT_TOKEN_PROJECTION, keep=True),
}

PROJECTED_VOLUME_SOURCE: Message = {
    1: Field("sources", VOLUME_PROJECTION, repeated=True),
    2: Field("defaultMode", INT, keep=True),
}

CSI_VOLUME_SOURCE: Message = {
    1: Field("driver", STRING, keep=True),
    2: Field("readOnly", BOOL, keep=True),
    3: Field("fsType", STRING, keep=True),
    4: Field("volumeAttributes", Map(STRING, STRING)),
    5: Field("nodePublishSecretRef", LOCAL_OBJECT_REFERENCE, keep=True),
}

IMAGE_VOLUME_SOURCE: Message = {
    1: Field("reference", STRING),
    2: Field("pullPolicy", STRING),
}

VOLUME_SOURCE: Message = {
    1: Field("hostPath", HOST_PATH_VOLUME_SOURCE, keep=True),
    2: Field("emptyDir", EMPTY_DIR_VOLUME_SOURCE, keep=True),
    6: Field("secret", SECRET_VOLUME_SOURCE, keep=True),
    7: Field("nfs", NFS_VOLUME_SOURCE, keep=True),
    10: Field("persistentVolumeClaim", PERSISTENT_VOLUME_CLAIM_VOLUME_SOURCE, keep=True),
    16: Field("downwardAPI", DOWNWARD_API_VOLUME_SOURCE, keep=True),
    19: Field("configMap", CONFIG_MAP_VOLUME_SOURCE, keep=True),
    26: Field("projected", PROJECTED_VOLUME_SOURCE, keep=True),
    28: Field("csi", CSI_VOLUME_SOURCE, keep=True),
    30: Field("image", IMAGE_VOLUME_SOURCE, keep=True),
}

VOLUME: Message = {
    1: Field("name", STRING, keep=True),
    2: Field("", VOLUME_SOURCE),
}

CONTAINER_PORT: Message = {
    1: Field("name", STRING),
    2: Field("hostPort", INT),
    3: Field("containerPort", INT, keep=True),
    4: Field("protocol", STRING),
    5: Field("hostIP", STRING),
}

CONFIG_MAP_ENV_SOURCE: Message = {
    1: Field("", LOCAL_OBJECT_REFERENCE),
    2: Field("optional", BOOL, keep=True),
}

SECRET_ENV_SOURCE: Message = {
    1: Field("", LOCAL_OBJECT_REFERENCE),
    2: Field("optional", BOOL, keep=True),
}

ENV_FROM_SOURCE: Message = {
    1: Field("prefix", STRING),
    2: Field("configMapRef", CONFIG_MAP_ENV_SOURCE, keep=True),
    3: Field("secretRef", SECRET_ENV_SOURCE, keep=True),
}

CONFIG_MAP_KEY_SELECTOR: Message = {
    1: Field("", LOCAL_OBJECT_REFERENCE),
    2: Field("key", STRING, keep=True),
    3: Field("optional", BOOL, keep=True),
}

SECRET_KEY_SELECTOR: Message = {
    1: Field("", LOCAL_OBJECT_REFERENCE),
    2: Field("key", STRING, keep=True),
    3: Field("optional", BOOL, keep=True),
}

ENV_VAR_SOURCE: Message = {
    1: Field("fieldRef", OBJECT_FIELD_SELECTOR, keep=True),
    2: Field("resourceFieldRef", RESOURCE_FIELD_SELECTOR, keep=True),
    3: Field("configMapKeyRef", CONFIG_MAP_KEY_SELECTOR, keep=True),
    4: Field("secretKeyRef", SECRET_KEY_SELECTOR, keep=True),
}

ENV_VAR: Message = {
    1: Field("name", STRING, keep=True),
    2: Field("value", STRING),
    3: Field("valueFrom", ENV_VAR_SOURCE, keep=True),
}

RESOURCE_CLAIM: Message = {
    1: Field("name", STRING, keep=True),
    2: Field("request", STRING),
}

RESOURCE_REQUIREMENTS: Message = {
    1: Field("limits", Map(STRING, QUANTITY)),
    2: Field("requests", Map(STRING, QUANTITY)),
    3: Field("claims", RESOURCE_CLAIM, repeated=True),
}

CONTAINER_RESIZE_POLICY: Message = {
    1: Field("resourceName", STRING, keep=True),
    2: Field("restartPolicy", STRING, keep=True),
}

VOLUME_MOUNT: Message = {
    1: Field("name", STRING, keep=True),
    2: Field("readOnly", BOOL),
    3: Field("mountPath", STRING, keep=True),
    4: Field("subPath", STRING),
    5: Field("mountPropagation", STRING, keep=True),
    6: Field("subPathExpr", STRING),
    7: Field("recursiveReadOnly", STRING, keep=True),
}

VOLUME_DEVICE: Message = {
    1: Field("name", STRING, keep=True),
    2: Field("devicePath", STRING, keep=True),
}

EXEC_ACTION: Message = {
    1: Field("command", STRING, repeated=True),
}

HTTP_HEADER: Message = {
    1: Field("name", STRING, keep=True),
    2: Field("value", STRING, keep=True),
}

HTTP_GET_ACTION: Message = {
    1: Field("path", STRING),
    2: Field("port", INT_OR_STRING),
    3: Field("host", STRING),
    4: Field("scheme", STRING),
    5: Field("httpHeaders", HTTP_HEADER, repeated=True),
}

TCP_SOCKET_ACTION: Message = {
    1: Field("port", INT_OR_STRING),
    2: Field("host", STRING),
}

GRPC_ACTION: Message = {
    1: Field("port", INT, keep=True),
    2: Field("service", STRING, keep=True),
}

PROBE_HANDLER: Message = {
    1: Field("exec", EXEC_ACTION, keep=True),
    2: Field("httpGet", HTTP_GET_ACTION, keep=True),
    3: Field("tcpSocket", TCP_SOCKET_ACTION, keep=True),
    4: Field("grpc", GRPC_ACTION, keep=True),
}

PROBE: Message = {
    1: Field("", PROBE_HANDLER),
    2: Field("initialDelaySeconds", INT),
    3: Field("timeoutSeconds", INT),
    4: Field("periodSeconds", INT),
    5: Field("successThreshold", INT),
    6: Field("failureThreshold", INT),
    7: Field("terminationGracePeriodSeconds", INT, keep=True),
}

SLEEP_ACTION: Message = {
    1: Field("seconds", INT, keep=True),
}

LIFECYCLE_HANDLER: Message = {
    1: Field("exec", EXEC_ACTION, keep=True),
    2: Field("httpGet", HTTP_GET_ACTION, keep=True),
    3: Field("tcpSocket", TCP_SOCKET_ACTION, keep=True),
    4: Field("sleep", SLEEP_ACTION, keep=True),
}

LIFECYCLE: Message = {
    1: Field("postStart", LIFECYCLE_HANDLER, keep=True),
    2: Field("preStop", LIFECYCLE_HANDLER, keep=True),
    3: Field("stopSignal", STRING, keep=True),
}

CAPABILITIES: Message = {
    1: Field("add", STRING, repeated=True),
    2: Field("drop", STRING, repeated=True),
}

SE_LINUX_OPTIONS: Message = {
    1: Field("user", STRING),
    2: Field("role", STRING),
    3: Field("type", STRING),
    4: Field("level", STRING),
}

SECCOMP_PROFILE: Message = {
    1: Field("type", STRING, keep=True),
    2: Field("localhostProfile", STRING, keep=True),
}

APP_ARMOR_PROFILE: Message = {
    1: Field("type", STRING, keep=True),
    2: Field("localhostProfile", STRING, keep=True),
}

SECURITY_CONTEXT: Message = {
    1: Field("capabilities", CAPABILITIES, keep=True),
    2: Field("privileged", BOOL, keep=True),
    3: Field("seLinuxOptions", SE_LINUX_OPTIONS, keep=True),
    4: Field("runAsUser", INT, keep=True),
    5: Field("runAsNonRoot", BOOL, keep=True),
    6: Field("readOnlyRootFilesystem", BOOL, keep=True),
    7: Field("allowPrivilegeEscalation", BOOL, keep=True),
    8: Field("runAsGroup", INT, keep=True),
    9: Field("procMount", STRING, keep=True),
    11: Field("seccompProfile", SECCOMP_PROFILE, keep=True),
    12: Field("appArmorProfile", APP_ARMOR_PROFILE, keep=True),
}

CONTAINER: Message = {
    1: Field("name", STRING, keep=True),
    2: Field("image", STRING),
    3: Field("command", STRING, repeated=True),
    4: Field("args", STRING, repeated=True),
    5: Field("workingDir", STRING),
    6: Field("ports", CONTAINER_PORT, repeated=True),
    7: Field("env", ENV_VAR, repeated=True),
    8: Field("resources", RESOURCE_REQUIREMENTS),
    9: Field("volumeMounts", VOLUME_MOUNT, repeated=True),
    10: Field("livenessProbe", PROBE, keep=True),
    11: Field("readinessProbe", PROBE, keep=True),
    12: Field("lifecycle", LIFECYCLE, keep=True),
    13: Field("terminationMessagePath", STRING),
    14: Field("imagePullPolicy", STRING),
    15: Field("securityContext", SECURITY_CONTEXT, keep=True),
    16: Field("stdin", BOOL),
    17: Field("stdinOnce", BOOL),
    18: Field("tty", BOOL),
    19: Field("envFrom", ENV_FROM_SOURCE, repeated=True),
    20: Field("terminationMessagePolicy", STRING),
    21: Field("volumeDevices", VOLUME_DEVICE, repeated=True),
    22: Field("startupProbe", PROBE, keep=True),
    23: Field("resizePolicy", CONTAINER_RESIZE_POLICY, repeated=True),
    24: Field("restartPolicy", STRING, keep=True),
}

SYSCTL: Message = {
    1: Field("name", STRING, keep=True),
    2: Field("value", STRING, keep=True),
}

POD_SECURITY_CONTEXT: Message = {
    1: Field("seLinuxOptions", SE_LINUX_OPTIONS, keep=True),
    2: Field("runAsUser", INT, keep=True),
    3: Field("runAsNonRoot", BOOL, keep=True),
    4: Field("supplementalGroups", INT, repeated=True),
    5: Field("fsGroup", INT, keep=True),
    6: Field("runAsGroup", INT, keep=True),
    7: Field("sysctls", SYSCTL, repeated=True),
    9: Field("fsGroupChangePolicy", STRING, keep=True),
    10: Field("seccompProfile", SECCOMP_PROFILE, keep=True),
    11: Field("appArmorProfile", APP_ARMOR_PROFILE, keep=True),
    12: Field("supplementalGroupsPolicy", STRING, keep=True),
    13: Field("seLinuxChangePolicy", STRING, keep=True),
}

NODE_SELECTOR_REQUIREMENT: Message = {
    1: Field("key", STRING, keep=True),
    2: Field("operator", STRING, keep=True),
    3: Field("values", STRING, repeated=True),
}

NODE_SELECTOR_TERM: Message = {
    1: Field("matchExpressions", NODE_SELECTOR_REQUIREMENT, repeated=True),
    2: Field("matchFields", NODE_SELECTOR_REQUIREMENT, repeated=True),
}

NODE_SELECTOR: Message = {
    1: Field("nodeSelectorTerms", NODE_SELECTOR_TERM, repeated=True),
}

PREFERRED_SCHEDULING_TERM: Message = {
    1: Field("weight", INT, keep=True),
    2: Field("preference", NODE_SELECTOR_TERM),
}

NODE_AFFINITY: Message = {
    1: Field("requiredDuringSchedulingIgnoredDuringExecution", NODE_SELECTOR, keep=True),
    2: Field("preferredDuringSchedulingIgnoredDuringExecution", PREFERRED_SCHEDULING_TERM, repeated=True),
}

POD_AFFINITY_TERM: Message = {
    1: Field("labelSelector", LABEL_SELECTOR, keep=True),
    2: Field("namespaces", STRING, repeated=True),
    3: Field("topologyKey", STRING, keep=True),
    4: Field("namespaceSelector", LABEL_SELECTOR, keep=True),
    5: Field("matchLabelKeys", STRING, repeated=True),
    6: Field("mismatchLabelKeys", STRING, repeated=True),
}

WEIGHTED_POD_AFFINITY_TERM: Message = {
    1: Field("weight", INT, keep=True),
    2: Field("podAffinityTerm", POD_AFFINITY_TERM),
}

POD_AFFINITY: Message = {
    1: Field("requiredDuringSchedulingIgnoredDuringExecution", POD_AFFINITY_TERM, repeated=True),
    2: Field("preferredDuringSchedulingIgnoredDuringExecution", WEIGHTED_POD_AFFINITY_TERM, repeated=True),
}

POD_ANTI_AFFINITY: Message = {
    1: Field("requiredDuringSchedulingIgnoredDuringExecution", POD_AFFINITY_TERM, repeated=True),
    2: Field("preferredDuringSchedulingIgnoredDuringExecution", WEIGHTED_POD_AFFINITY_TERM, repeated=True),
}

AFFINITY: Message = {
    1: Field("nodeAffinity", NODE_AFFINITY, keep=True),
    2: Field("podAffinity", POD_AFFINITY, keep=True),
    3: Field("podAntiAffinity", POD_ANTI_AFFINITY, keep=True),
}

TOLERATION: Message = {
    1: Field("key", STRING),
    2: Field("operator", STRING),
    3: Field("value", STRING),
    4: Field("effect", STRING),
    5: Field("tolerationSeconds", INT, keep=True),
}

HOST_ALIAS: Message = {
    1: Field("ip", STRING, keep=True),
    2: Field("hostnames", STRING, repeated=True),
}

POD_DNS_CONFIG_OPTION: Message = {
    1: Field("name", STRING),
    2: Field("value", STRING, keep=True),
}

POD_DNS_CONFIG: Message = {
    1: Field("nameservers", STRING, repeated=True),
    2: Field("searches", STRING, repeated=True),
    3: Field("options", POD_DNS_CONFIG_OPTION, repeated=True),
}

POD_READINESS_GATE: Message = {
    1: Field("conditionType", STRING, keep=True),
}

TOPOLOGY_SPREAD_CONSTRAINT: Message = {
    1: Field("maxSkew", INT, keep=True),
    2: Field("topologyKey", STRING, keep=True),
    3: Field("whenUnsatisfiable", STRING, keep=True),
    4: Field("labelSelector", LABEL_SELECTOR, keep=True),
    5: Field("minDomains", INT, keep=True),
    6: Field("nodeAffinityPolicy", STRING, keep=True),
    7: Field("nodeTaintsPolicy", STRING, keep=True),
    8: Field("matchLabelKeys", STRING, repeated=True),
}

POD_OS: Message = {
    1: Field("name", STRING, keep=True),
}

POD_SCHEDULING_GATE: Message = {
    1: Field("name", STRING, keep=True),
}

POD_SPEC: Message = {
    1: Field("volumes", VOLUME, repeated=True),
    2: Field("containers", CONTAINER, repeated=True),
    3: Field("restartPolicy", STRING),
    4: Field("terminationGracePeriodSeconds", INT, keep=True),
    5: Field("activeDeadlineSeconds", INT, keep=True),
    6: Field("dnsPolicy", STRING),
    7: Field("nodeSelector", Map(STRING, STRING)),
    8: Field("serviceAccountName", STRING),
    9: Field("serviceAccount", STRING),
    10: Field("nodeName", STRING),
    11: Field("hostNetwork", BOOL),
    12: Field("hostPID", BOOL),
    13: Field("hostIPC", BOOL),
    14: Field("securityContext", POD_SECURITY_CONTEXT, keep=True),
    15: Field("imagePullSecrets", LOCAL_OBJECT_REFERENCE, repeated=True),
    16: Field("hostname", STRING),
    17: Field("subdomain", STRING),
    18: Field("affinity", AFFINITY, keep=True),
    19: Field("schedulerName", STRING),
    20: Field("initContainers", CONTAINER, repeated=True),
    21: Field("automountServiceAccountToken", BOOL, keep=True),
    22: Field("tolerations", TOLERATION, repeated=True),
    23: Field("hostAliases", HOST_ALIAS, repeated=True),
    24: Field("priorityClassName", STRING),
    25: Field("priority", INT, keep=True),
    26: Field("dnsConfig", POD_DNS_CONFIG, keep=True),
    27: Field("shareProcessNamespace", BOOL, keep=True),
    28: Field("readinessGates", POD_READINESS_GATE, repeated=True),
    29: Field("runtimeClassName", STRING, keep=True),
    30: Field("enableServiceLinks", BOOL, keep=True),
    31: Field("preemptionPolicy", STRING, keep=True),
    32: Field("overhead", Map(STRING, QUANTITY)),
    33: Field("topologySpreadConstraints", TOPOLOGY_SPREAD_CONSTRAINT, repeated=True),
    35: Field("setHostnameAsFQDN", BOOL, keep=True),
    36: Field("os", POD_OS, keep=True),
    37: Field("hostUsers", BOOL, keep=True),
    38: Field("schedulingGates", POD_SCHEDULING_GATE, repeated=True),
    40: Field("resources", RESOURCE_REQUIREMENTS, keep=True),
}

POD_TEMPLATE_SPEC: Message = {
    1: Field("metadata", OBJECT_META),
    2: Field("spec", POD_SPEC),
}

ROLLING_UPDATE_DEPLOYMENT: Message = {
    1: Field("maxUnavailable", INT_OR_STRING, keep=True),
    2: Field("maxSurge", INT_OR_STRING, keep=True),
}

DEPLOYMENT_STRATEGY: Message = {
    1: Field("type", STRING),
    2: Field("rollingUpdate", ROLLING_UPDATE_DEPLOYMENT, keep=True),
}

DEPLOYMENT_SPEC: Message = {
    1: Field("replicas", INT, keep=True),
    2: Field("selector", LABEL_SELECTOR, keep=True),
    3: Field("template", POD_TEMPLATE_SPEC),
    4: Field("strategy", DEPLOYMENT_STRATEGY),
    5: Field("minReadySeconds", INT),
    6: Field("revisionHistoryLimit", INT, keep=True),
    7: Field("paused", BOOL),
    9: Field("progressDeadlineSeconds", INT, keep=True),
}

DEPLOYMENT: Message = {
    1: Field("metadata", OBJECT_META),
    2: Field("spec", DEPLOYMENT_SPEC),
}

NAMESPACE_SPEC: Message = {
    1: Field("finalizers", STRING, repeated=True),
}

NAMESPACE: Message = {
    1: Field("metadata", OBJECT_META),
    2: Field("spec", NAMESPACE_SPEC),
}

CONFIG_MAP: Message = {
    1: Field("metadata", OBJECT_META),
    2: Field("data", Map(STRING, STRING)),
    3: Field("binaryData", Map(STRING, BYTES)),
    4: Field("immutable", BOOL, keep=True),
}

SECRET: Message = {
    1: Field("metadata", OBJECT_META),
    2: Field("data", Map(STRING, BYTES)),
    3: Field("type", STRING),
    4: Field("stringData", Map(STRING, STRING)),
    5: Field("immutable", BOOL, keep=True),
}

OBJECT_REFERENCE: Message = {
    1: Field("kind", STRING),
    2: Field("namespace", STRING),
    3: Field("name", STRING),
    4: Field("uid", STRING),
    5: Field("apiVersion", STRING),
    6: Field("resourceVersion", STRING),
    7: Field("fieldPath", STRING),
}

SERVICE_ACCOUNT: Message = {
    1: Field("metadata", OBJECT_META),
    2: Field("secrets", OBJECT_REFERENCE, repeated=True),
    3: Field("imagePullSecrets", LOCAL_OBJECT_REFERENCE, repeated=True),
    4: Field("automountServiceAccountToken", BOOL, keep=True),
}

SERVICE_PORT: Message = {
    1: Field("name", STRING),
    2: Field("protocol", STRING),
    3: Field("port", INT, keep=True),
    4: Field("targetPort", INT_OR_STRING),
    5: Field("nodePort", INT),
    6: Field("appProtocol", STRING, keep=True),
}

CLIENT_IP_CONFIG: Message = {
    1: Field("timeoutSeconds", INT, keep=True),
}

SESSION_AFFINITY_CONFIG: Message = {
    1: Field("clientIP", CLIENT_IP_CONFIG, keep=True),
}

SERVICE_SPEC: Message = {
    1: Field("ports", SERVICE_PORT, repeated=True),
    2: Field("selector", Map(STRING, STRING)),
    3: Field("clusterIP", STRING),
    4: Field("type", STRING),
    5: Field("externalIPs", STRING, repeated=True),
    7: Field("sessionAffinity", STRING),
    8: Field("loadBalancerIP", STRING),
    9: Field("loadBalancerSourceRanges", STRING, repeated=True),
    10: Field("externalName", STRING),
    11: Field("externalTrafficPolicy", STRING),
    12: Field("healthCheckNodePort", INT),
    13: Field("publishNotReadyAddresses", BOOL),
    14: Field("sessionAffinityConfig", SESSION_AFFINITY_CONFIG, keep=True),
    17: Field("ipFamilyPolicy", STRING, keep=True),
    18: Field("clusterIPs", STRING, repeated=True),
    19: Field("ipFamilies", STRING, repeated=True),
    20: Field("allocateLoadBalancerNodePorts", BOOL, keep=True),
    21: Field("loadBalancerClass", STRING, keep=True),
    22: Field("internalTrafficPolicy", STRING, keep=True),
    23: Field("trafficDistribution", STRING, keep=True),
}

SERVICE: Message = {
    1: Field("metadata", OBJECT_META),
    2: Field("spec", SERVICE_SPEC),
}

SCOPED_RESOURCE_SELECTOR_REQUIREMENT: Message = {
    1: Field("scopeName", STRING, keep=True),
    2: Field("operator", STRING, keep=True),
    3: Field("values", STRING, repeated=True),
}

SCOPE_SELECTOR: Message = {
    1: Field("matchExpressions", SCOPED_RESOURCE_SELECTOR_REQUIREMENT, repeated=True),
}

RESOURCE_QUOTA_SPEC: Message = {
    1: Field("hard", Map(STRING, QUANTITY)),
    2: Field("scopes", STRING, repeated=True),
    3: Field("scopeSelector", SCOPE_SELECTOR, keep=True),
}

RESOURCE_QUOTA: Message = {
    1: Field("metadata", OBJECT_META),
    2: Field("spec", RESOURCE_QUOTA_SPEC),
}

JOB_SPEC: Message = {
    1: Field("parallelism", INT, keep=True),
    2: Field("completions", INT, keep=True),
    3: Field("activeDeadlineSeconds", INT, keep=True),
    4: Field("selector", LABEL_SELECTOR, keep=True),
    5: Field("manualSelector", BOOL, keep=True),
    6: Field("template", POD_TEMPLATE_SPEC),
    7: Field("backoffLimit", INT, keep=True),
    8: Field("ttlSecondsAfterFinished", INT, keep=True),
    9: Field("completionMode", STRING, keep=True),
    10: Field("suspend", BOOL, keep=True),
    12: Field("backoffLimitPerIndex", INT, keep=True),
    13: Field("maxFailedIndexes", INT, keep=True),
    14: Field("podReplacementPolicy", STRING, keep=True),
    15: Field("managedBy", STRING, keep=True),
}

JOB: Message = {
    1: Field("metadata", OBJECT_META),
    2: Field("spec", JOB_SPEC),
}

JOB_TEMPLATE_SPEC: Message = {
    1: Field("metadata", OBJECT_META),
    2: Field("spec", JOB_SPEC),
}

CRON_JOB_SPEC: Message = {
    1: Field("schedule", STRING, keep=True),
    2: Field("startingDeadlineSeconds", INT, keep=True),
    3: Field("concurrencyPolicy", STRING),
    4: Field("suspend", BOOL, keep=True),
    5: Field("jobTemplate", JOB_TEMPLATE_SPEC),
    6: Field("successfulJobsHistoryLimit", INT, keep=True),
    7: Field("failedJobsHistoryLimit", INT, keep=True),
    8: Field("timeZone", STRING, keep=True),
}

CRON_JOB: Message = {
    1: Field("metadata", OBJECT_META),
    2: Field("spec", CRON_JOB_SPEC),
}

POLICY_RULE: Message = {
    1: Field("verbs", STRING, repeated=True),
    2: Field("apiGroups", STRING, repeated=True),
    3: Field("resources", STRING, repeated=True),
    4: Field("resourceNames", STRING, repeated=True),
    5: Field("nonResourceURLs", STRING, repeated=True),
}

ROLE: Message = {
    1: Field("metadata", OBJECT_META),
    2: Field("rules", POLICY_RULE, repeated=True),
}

AGGREGATION_RULE: Message = {
    1: Field("clusterRoleSelectors", LABEL_SELECTOR, repeated=True),
}

CLUSTER_ROLE: Message = {
    1: Field("metadata", OBJECT_META),
    2: Field("rules", POLICY_RULE, repeated=True),
    3: Field("aggregationRule", AGGREGATION_RULE, keep=True),
}

SUBJECT: Message = {
    1: Field("kind", STRING, keep=True),
    2: Field("apiGroup", STRING),
    3: Field("name", STRING, keep=True),
    4: Field("namespace", STRING),
}

ROLE_REF: Message = {
    1: Field("apiGroup", STRING, keep=True),
    2: Field("kind", STRING, keep=True),
    3: Field("name", STRING, keep=True),
}

ROLE_BINDING: Message = {
    1: Field("metadata", OBJECT_META),
    2: Field("subjects", SUBJECT, repeated=True),
    3: Field("roleRef", ROLE_REF),
}

CLUSTER_ROLE_BINDING: Message = {
    1: Field("metadata", OBJECT_META),
    2: Field("subjects", SUBJECT, repeated=True),
    3: Field("roleRef", ROLE_REF),
}

BOUND_OBJECT_REFERENCE: Message = {
    1: Field("kind", STRING),
    2: Field("apiVersion", STRING),
    3: Field("name", STRING),
    4: Field("uid", STRING),
}

TOKEN_REQUEST_SPEC: Message = {
    1: Field("audiences", STRING, repeated=True),
    3: Field("boundObjectRef", BOUND_OBJECT_REFERENCE, keep=True),
    4: Field("expirationSeconds", INT, keep=True),
}

TOKEN_REQUEST: Message = {
    1: Field("metadata", OBJECT_META),
    2: Field("spec", TOKEN_REQUEST_SPEC),
}

PRIORITY_CLASS: Message = {
    1: Field("metadata", OBJECT_META),
    2: Field("value", INT, keep=True),
    3: Field("globalDefault", BOOL),
    4: Field("description", STRING),
    5: Field("preemptionPolicy", STRING, keep=True),
}

FIELD_SELECTOR_REQUIREMENT: Message = {
    1: Field("key", STRING, keep=True),
    2: Field("operator", STRING, keep=True),
    3: Field("values", STRING, repeated=True),
}

FIELD_SELECTOR_ATTRIBUTES: Message = {
    1: Field("rawSelector", STRING),
    2: Field("requirements", FIELD_SELECTOR_REQUIREMENT, repeated=True),
}

LABEL_SELECTOR_ATTRIBUTES: Message = {
    1: Field("rawSelector", STRING),
    2: Field("requirements", LABEL_SELECTOR_REQUIREMENT, repeated=True),
}

RESOURCE_ATTRIBUTES: Message = {
    1: Field("namespace", STRING),
    2: Field("verb", STRING),
    3: Field("group", STRING),
    4: Field("version", STRING),
    5: Field("resource", STRING),
    6: Field("subresource", STRING),
    7: Field("name", STRING),
    8: Field("fieldSelector", FIELD_SELECTOR_ATTRIBUTES, keep=True),
    9: Field("labelSelector", LABEL_SELECTOR_ATTRIBUTES, keep=True),
}

NON_RESOURCE_ATTRIBUTES: Message = {
    1: Field("path", STRING),
    2: Field("verb", STRING),
}

SELF_SUBJECT_ACCESS_REVIEW_SPEC: Message = {
    1: Field("resourceAttributes", RESOURCE_ATTRIBUTES, keep=True),
    2: Field("nonResourceAttributes", NON_RESOURCE_ATTRIBUTES, keep=True),
}

SELF_SUBJECT_ACCESS_REVIEW: Message = {
    1: Field("metadata", OBJECT_META),
    2: Field("spec", SELF_SUBJECT_ACCESS_REVIEW_SPEC),
}

SELF_SUBJECT_RULES_REVIEW_SPEC: Message = {
    1: Field("namespace", STRING),
}

SELF_SUBJECT_RULES_REVIEW: Message = {
    1: Field("metadata", OBJECT_META),
    2: Field("spec", SELF_SUBJECT_RULES_REVIEW_SPEC),
}

SELF_SUBJECT_REVIEW: Message = {
    1: Field("metadata", OBJECT_META),
}

PRECONDITIONS: Message = {
    1: Field("uid", STRING, keep=True),
    2: Field("resourceVersion", STRING, keep=True),
}

DELETE_OPTIONS: Message = {
    1: Field("gracePeriodSeconds", INT, keep=True),
    2: Field("preconditions", PRECONDITIONS, keep=True),
    3: Field("orphanDependents", BOOL, keep=True),
    4: Field("propagationPolicy", STRING, keep=True),
    5: Field("dryRun", STRING, repeated=True),
    6: Field("ignoreStoreReadErrorWithClusterBreakingPotential", BOOL, keep=True),
}

EVICTION: Message = {
    1: Field("metadata", OBJECT_META),
    2: Field("deleteOptions", DELETE_OPTIONS, keep=True),
}

KINDS: dict[tuple[str, str], Message] = {
    ("v1", "Namespace"): NAMESPACE,
    ("v1", "ConfigMap"): CONFIG_MAP,
    ("v1", "Secret"): SECRET,
    ("v1", "ServiceAccount"): SERVICE_ACCOUNT,
    ("v1", "Service"): SERVICE,
    ("v1", "ResourceQuota"): RESOURCE_QUOTA,
    ("v1", "DeleteOptions"): DELETE_OPTIONS,
    ("meta.k8s.io/v1", "DeleteOptions"): DELETE_OPTIONS,
    ("apps/v1", "Deployment"): DEPLOYMENT,
    ("batch/v1", "Job"): JOB,
    ("batch/v1", "CronJob"): CRON_JOB,
    ("policy/v1", "Eviction"): EVICTION,
    ("rbac.authorization.k8s.io/v1", "Role"): ROLE,
    ("rbac.authorization.k8s.io/v1", "ClusterRole"): CLUSTER_ROLE,
    ("rbac.authorization.k8s.io/v1", "RoleBinding"): ROLE_BINDING,
    ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"): CLUSTER_ROLE_BINDING,
    ("scheduling.k8s.io/v1", "PriorityClass"): PRIORITY_CLASS,
    ("authentication.k8s.io/v1", "TokenRequest"): TOKEN_REQUEST,
    ("authentication.k8s.io/v1", "SelfSubjectReview"): SELF_SUBJECT_REVIEW,
    ("authorization.k8s.io/v1", "SelfSubjectAccessReview"): SELF_SUBJECT_ACCESS_REVIEW,
    ("authorization.k8s.io/v1", "SelfSubjectRulesReview"): SELF_SUBJECT_RULES_REVIEW,
}
"""The kinds :func:`decode` understands, by ``(apiVersion, kind)`` of the envelope's TypeMeta."""
