"""Reading a request: which resource and verb a URL means, and what its body says.

Mirrors ``k8s.io/apiserver/pkg/endpoints/request/requestinfo.go`` (``RequestInfoFactory``) and the
decoding half of ``k8s.io/apiserver/pkg/endpoints/handlers`` (content types, size limit, the
``apiVersion``/``kind`` checks, ``DeleteOptions`` from body or query).
"""

from __future__ import annotations

import dataclasses
import json
import re
from typing import Any
from urllib.parse import unquote

import yaml

from labkit import codec
from labkit.apimachinery.meta import Obj
from labkit.apiserver import errors, protobuf, resources
from labkit.apiserver.resources import Resource

MAX_BODY = 3 * 1024 * 1024  # kube-apiserver's MaxRequestBodyBytes

JSON = "application/json"
YAML = "application/yaml"
PROTOBUF = "application/vnd.kubernetes.protobuf"
MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_PATCH = "application/strategic-merge-patch+json"
JSON_PATCH = "application/json-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"
BODY_TYPES = (JSON, YAML, PROTOBUF)
PATCH_TYPES = (JSON_PATCH, MERGE_PATCH, STRATEGIC_PATCH, APPLY_PATCH)
NAMESPACE_SUBRESOURCES = ("status", "finalize")


@dataclasses.dataclass(frozen=True, slots=True)
class RequestInfo:
    """What a URL addresses (``is_resource`` False for /version, /healthz, discovery ...)."""

    path: str
    verb: str
    is_resource: bool = False
    group: str = ""
    version: str = ""
    resource: Resource | None = None
    plural: str = ""
    subresource: str = ""
    namespace: str = ""
    name: str = ""


_METHOD_VERBS = {"POST": "create", "PUT": "update", "PATCH": "patch"}


def parse(method: str, path: str, query: dict[str, str]) -> RequestInfo:
    """Parse a URL into a :class:`RequestInfo`; unknown resources raise 404."""
    parts = [unquote(p) for p in path.strip("/").split("/") if p]
    verb = {"GET": "get", "HEAD": "get", "DELETE": "delete"}.get(method, _METHOD_VERBS.get(method, method.lower()))
    if parts[:1] == ["api"] and len(parts) >= 2:
        group, version, rest = "", parts[1], parts[2:]
    elif parts[:1] == ["apis"] and len(parts) >= 3:
        group, version, rest = parts[1], parts[2], parts[3:]
    else:
        return RequestInfo(path=path, verb=verb)
    if not rest:
        return RequestInfo(path=path, verb=verb, group=group, version=version)
    namespace = ""
    if rest[0] == "namespaces" and len(rest) >= 3 and not (len(rest) == 3 and rest[2] in NAMESPACE_SUBRESOURCES):
        namespace, rest = rest[1], rest[2:]
    if len(rest) > 3 and rest[2] != "proxy":  # .../proxy/<path> goes on to the path proxied to
        raise errors.not_found_path()
    plural, name, sub = (rest + ["", ""])[:3]
    res = resources.lookup(group, version, plural)
    if res is None or (sub and res.subresource(sub) is None) or (namespace and not res.namespaced):
        raise errors.not_found_path()
    if plural == "namespaces" and len(rest) >= 2:
        name = rest[1]
    if method == "GET" and not name:
        verb = "watch" if query.get("watch") in ("true", "1") else "list"
    elif method == "GET" and query.get("watch") in ("true", "1"):
        verb = "watch"
    elif method == "DELETE" and not name:
        verb = "deletecollection"
    return RequestInfo(path=path, verb=verb, is_resource=True, group=group, version=version, resource=res,
                       plural=plural, subresource=sub, namespace=namespace, name=name)


def media_type(content_type: str | None) -> str:
    return (content_type or "").split(";")[0].strip().lower()


def decode_body(raw: bytes, content_type: str, *, allowed: tuple[str, ...] = BODY_TYPES) -> Any:
    """Parse a request body of an allowed media type; 400 when malformed, 415 when not allowed."""
    mt = media_type(content_type) or JSON
    if mt not in allowed:
        raise errors.unsupported_media_type(mt, allowed)
    if mt == PROTOBUF:
        try:
            return protobuf.decode(raw)
        except protobuf.ProtobufError as e:
            raise errors.bad_request(f"unable to decode protobuf body: {e}") from None
    if mt in (YAML, APPLY_PATCH):
        return _decode_yaml(raw)
    if not raw.strip():
        return None
    try:
        return _decode_json(raw)
    except json.JSONDecodeError as e:
        raise errors.bad_request(f"couldn't get version/kind; json parse error: {e}") from None
    except RecursionError:
        raise errors.bad_request("couldn't get version/kind; json parse error: exceeded max depth") from None


def _decode_json(raw: bytes) -> Any:
    try:
        return codec.loads(raw)  # several times faster; what it refuses gets the standard library's answer
    except ValueError:
        pass
    # Go's decoder reads bytes that are not UTF-8, and lone surrogates, as U+FFFD
    return _valid_unicode(json.loads(raw.decode("utf-8", errors="replace")))


def _decode_yaml(raw: bytes) -> Any:
    too_deep = errors.bad_request("error converting YAML to JSON: the document is nested too deeply")
    if raw.lstrip()[:1] in (b"{", b"["):  # JSON is YAML: read as JSON it is read at once, however deep
        try:
            return _decode_json(raw)
        except json.JSONDecodeError:
            pass  # flow-style YAML that is not JSON
        except RecursionError:
            raise too_deep from None
    try:
        return _valid_unicode(_json_keys(yaml.load(raw.decode("utf-8"), Loader=_YAMLLoader))) if raw.strip() \
            else None
    except (yaml.YAMLError, UnicodeDecodeError) as e:
        raise errors.bad_request(f"error converting YAML to JSON: {str(e).splitlines()[0]}") from None
    except RecursionError:
        raise too_deep from None


_SURROGATE = re.compile("[\ud800-\udfff]")


def _valid_unicode(value: Any) -> Any:
    """``value`` with each lone surrogate (``"\\ud800"`` in JSON or YAML) as U+FFFD, as Go decodes one:
    a string that cannot be written as UTF-8 must never reach the store."""
    if isinstance(value, str):
        return _SURROGATE.sub("\ufffd", value)
    if isinstance(value, dict):
        return {_valid_unicode(k): _valid_unicode(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_valid_unicode(v) for v in value]
    return value


MAX_YAML_NODES = 1_000_000  # far more than 3 MiB can hold without aliases


class _YAMLLoader(yaml.SafeLoader):
    """YAML as Kubernetes reads it (``sigs.k8s.io/yaml``): a date stays the string it was written as,
    and a document whose aliases expand beyond reason is refused, as go-yaml refuses it (a few lines
    of nested aliases can stand for billions of values)."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        node = super().compose_node(parent, index)
        sizes = self.__dict__.setdefault("_sizes", {})
        size = 1
        if isinstance(node, yaml.SequenceNode):
            size += sum(sizes.get(id(child), 1) for child in node.value)
        elif isinstance(node, yaml.MappingNode):
            size += sum(sizes.get(id(k), 1) + sizes.get(id(v), 1) for k, v in node.value)
        if size > MAX_YAML_NODES:
            raise yaml.YAMLError("document contains excessive aliasing")
        sizes[id(node)] = size
        return node


_YAMLLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()}


def yaml_duplicates(raw: bytes) -> list[str]:
    """What go-yaml says of each key a YAML (or JSON) body sets twice in one mapping, in the body's order:
    ``line 12: key "paused" already set in map``; nothing for a body it cannot read."""
    try:
        root = yaml.compose(raw.decode("utf-8"), Loader=_YAMLLoader)
    except (yaml.YAMLError, UnicodeDecodeError, RecursionError):
        return []
    out: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, yaml.MappingNode):
            seen: set[str] = set()
            for key, value in node.value:
                if isinstance(key, yaml.ScalarNode):
                    if key.value in seen:
                        out.append(f"line {key.start_mark.line + 1}: key {json.dumps(key.value)} already set in map")
                    seen.add(key.value)
                walk(value)
        elif isinstance(node, yaml.SequenceNode):
            for item in node.value:
                walk(item)
    walk(root)
    return out


def _json_keys(value: Any) -> Any:
    """Mapping keys as JSON has them: strings (``1: a`` is ``"1": a``, ``true:`` is ``"true":``)."""
    if isinstance(value, dict):
        return {(k if isinstance(k, str) else json.dumps(k)): _json_keys(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_keys(v) for v in value]
    return value


def decode_object(raw: bytes, content_type: str, res: Resource, *, kind: str | None = None,
                  group_version: str | None = None) -> Obj:
    """A request body that must be one object of the resource's kind (or ``kind``/``group_version``
    for subresources); fills in ``apiVersion``/``kind`` when the client left them out."""
    obj = decode_body(raw, content_type)
    if obj is None:
        raise errors.bad_request("the body of the request must be a JSON or YAML object")
    _interpret(obj)
    expect_kind = kind or res.kind
    expect_gv = group_version or res.group_version
    check_type(obj, expect_kind, expect_gv)
    obj["apiVersion"], obj["kind"] = expect_gv, expect_kind
    return obj


#: the struct kube's decoder first reads a body into, to learn its apiVersion and kind, as Go names its type
_FIND_KIND = 'struct { APIVersion string "json:\\"apiVersion,omitempty\\""; Kind string "json:\\"kind,omitempty\\"" }'


def _interpret(obj: Any) -> None:
    """``SimpleMetaFactory.Interpret``'s refusals: a body that is not an object, or whose apiVersion or
    kind is not a string."""
    def refused(why: str) -> errors.ApiError:
        return errors.bad_request(f"couldn't get version/kind; json parse error: json: cannot unmarshal {why}")

    if not isinstance(obj, dict):
        raise refused(f"{json_type(obj)} into Go value of type {_FIND_KIND}")
    for field in ("apiVersion", "kind"):
        if obj.get(field) is not None and not isinstance(obj[field], str):
            raise refused(f"{json_type(obj[field])} into Go struct field .{field} of type string")


def check_type(obj: Obj, kind: str, group_version: str) -> None:
    api_version, got_kind = obj.get("apiVersion"), obj.get("kind")
    if api_version and api_version != group_version:
        raise errors.bad_request(f"the API version in the data ({api_version}) does not match the expected API "
                                 f"version ({group_version})")
    if got_kind and got_kind != kind:
        raise errors.bad_request(f"the kind in the data ({got_kind}) does not match the expected kind ({kind})")


def response_format(accept: str | None) -> str:
    """How to encode a resource response, from the Accept header's first range labkit can serve:
    ``"table"`` (``as=Table``), ``"partial"`` (``as=PartialObjectMetadata[List]``), ``"yaml"`` or
    ``"json"``; 406 when none can be (protobuf responses are not made: clients that ask for them
    also accept JSON)."""
    if not accept or not accept.strip():
        return "json"
    for media_range in accept.split(","):
        mt, *params = (x.strip() for x in media_range.split(";"))
        options = {k.strip(): v.strip() for k, _, v in (p.partition("=") for p in params)}
        mt = mt.lower()
        if mt in ("*/*", "application/*"):
            return "json"
        if mt == "application/yaml":
            return "yaml"
        if mt == "application/json":
            conversion = options.get("as")
            if not conversion:
                return "json"
            if options.get("g") == "meta.k8s.io" and options.get("v") in ("v1", "v1beta1"):
                if conversion == "Table":
                    return "table"
                if conversion in ("PartialObjectMetadata", "PartialObjectMetadataList"):
                    return "partial"
    raise errors.ApiError(406, "NotAcceptable", "only the following media types are accepted: application/json, "
                                                "application/yaml")


def parse_bool(value: str, name: str) -> bool:
    """A boolean query parameter, spelled as Go's ``strconv.ParseBool`` reads it."""
    if value in ("1", "t", "T", "true", "TRUE", "True"):
        return True
    if value in ("0", "f", "F", "false", "FALSE", "False"):
        return False
    raise errors.bad_request(f'invalid value for {name}: strconv.ParseBool: parsing "{value}": invalid syntax')


_INT64_MAX = 2**63 - 1


def parse_int64(value: str) -> int:
    """A query parameter of type int64 (``limit``, ``timeoutSeconds``, ``gracePeriodSeconds`` ...), read as
    Go's ``strconv.ParseInt(value, 10, 64)`` reads it: 400 with strconv's words when it cannot be."""
    digits = value[1:] if value[:1] in ("+", "-") else value
    if not digits or not all("0" <= c <= "9" for c in digits):
        raise errors.bad_request(f"strconv.ParseInt: parsing {errors.go_quote(value)}: invalid syntax")
    if len(digits.lstrip("0")) > 19 or not -_INT64_MAX - 1 <= int(value) <= _INT64_MAX:
        raise errors.bad_request(f"strconv.ParseInt: parsing {errors.go_quote(value)}: value out of range")
    return int(value)


def json_type(value: Any) -> str:
    """What encoding/json calls a JSON value in its unmarshal errors."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    names: dict[type, str] = {str: "string", list: "array", dict: "object"}
    return names.get(type(value), "value")


def unmarshal_error(value: Any, struct_field: str, go_type: str) -> errors.ApiError:
    """The 400 Kubernetes' JSON decoder gives for a value of the wrong type."""
    return errors.bad_request(f"json: cannot unmarshal {json_type(value)} into Go struct field {struct_field} "
                              f"of type {go_type}")


_DELETE_OPTION_TYPES: dict[str, tuple[str, Any]] = {
    "gracePeriodSeconds": ("int64", lambda v: isinstance(v, int) and not isinstance(v, bool)),
    "preconditions": ("v1.Preconditions", lambda v: isinstance(v, dict) and all(
        isinstance(v.get(k, ""), str) for k in ("uid", "resourceVersion"))),
    "orphanDependents": ("bool", lambda v: isinstance(v, bool)),
    "propagationPolicy": ("v1.DeletionPropagation", lambda v: isinstance(v, str)),
    "dryRun": ("[]string", lambda v: isinstance(v, list) and all(isinstance(x, str) for x in v)),
}


def checked_delete_options(body: Any, where: str) -> Obj:
    """``body`` when it is a DeleteOptions with fields of the right types, else the decoder's 400."""
    if not isinstance(body, dict):
        raise errors.bad_request(f"json: cannot unmarshal {json_type(body)} into Go value of type {where}")
    if body.get("kind") not in (None, "", "DeleteOptions"):
        raise errors.bad_request(f"the kind in the data ({body['kind']}) does not match the expected kind "
                                 "(DeleteOptions)")
    for name, (go_type, ok) in _DELETE_OPTION_TYPES.items():
        if body.get(name) is not None and not ok(body[name]):
            raise unmarshal_error(body[name], f"DeleteOptions.{name}", go_type)
    return body


def delete_options(raw: bytes, content_type: str, query: dict[str, str]) -> Obj:
    """DeleteOptions from the body (JSON, YAML or protobuf, as ``drain`` sends it) overlaid with query
    parameters. A body that cannot be read is an error, never ignored: it may carry preconditions."""
    body = decode_body(raw, content_type) if raw.strip() else None
    options = checked_delete_options(body, "v1.DeleteOptions") if body is not None else {}
    if "gracePeriodSeconds" in query:
        options["gracePeriodSeconds"] = parse_int64(query["gracePeriodSeconds"])
    for key in ("propagationPolicy",):
        if key in query:
            options[key] = query[key]
    if "orphanDependents" in query:
        options["orphanDependents"] = query["orphanDependents"] == "true"
    policy = options.get("propagationPolicy")
    if policy not in (None, "Orphan", "Background", "Foreground"):
        raise errors.unprocessable(f'DeleteOptions.meta.k8s.io "" is invalid: propagationPolicy: Unsupported value: '
                                   f'"{policy}": supported values: "Foreground", "Background", "Orphan"')
    return options


def dry_run(query_values: list[str]) -> bool:
    """``dryRun=All`` → True; anything else but absent is a 400, as kube-apiserver answers."""
    for value in query_values:
        if value != "All":
            raise errors.bad_request(f'Invalid dry run value: "{value}": supported values: "All"')
    return bool(query_values)
