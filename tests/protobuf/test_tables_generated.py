"""The protobuf field tables are what scripts/gen_protobuf_tables.py reads out of kubectl 1.33, and that
reading finds the numbers generated.proto has."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
from testkit import kubectl_path

from labkit.apiserver import protobuf, protobuf_tables

ROOT = Path(__file__).resolve().parent.parent.parent
SCRIPT = ROOT / "scripts" / "gen_protobuf_tables.py"
COMMITTED = ROOT / "labkit" / "apiserver" / "protobuf_tables.py"


def load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_protobuf_tables", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


@pytest.mark.kubectl
def test_committed_tables_are_what_the_script_generates(tmp_path: Path) -> None:
    out = tmp_path / "protobuf_tables.py"
    subprocess.run([sys.executable, str(SCRIPT), "--kubectl", str(kubectl_path("1.33")), "--output", str(out)],
                   check=True, capture_output=True, timeout=120)
    assert out.read_text() == COMMITTED.read_text(), (
        "labkit/apiserver/protobuf_tables.py is stale or edited by hand: run scripts/gen_protobuf_tables.py")


@pytest.mark.kubectl
def test_the_binary_has_the_numbers_of_generated_proto() -> None:
    """Pod is not in the tables; the descriptors and the Go tags read from the binary still have it."""
    gen = load_script()
    data = kubectl_path("1.33").read_bytes()
    messages, files = gen.read_descriptors(data)
    assert "k8s.io/api/core/v1/generated.proto" in files
    assert "k8s.io/apimachinery/pkg/apis/meta/v1/generated.proto" in files

    def number(message: str, name: str) -> int:
        return next(f.number for f in messages[message].fields if f.name == name)

    assert number("k8s.io.api.core.v1.Pod", "spec") == 2
    assert number("k8s.io.api.core.v1.Pod", "status") == 3
    assert number("k8s.io.api.core.v1.Container", "image") == 2
    assert number("k8s.io.api.core.v1.PodSpec", "ephemeralContainers") == 34
    assert number("k8s.io.apimachinery.pkg.apis.meta.v1.ObjectMeta", "creationTimestamp") == 8
    assert number("k8s.io.apimachinery.pkg.runtime.Unknown", "raw") == 2
    replicas = next(f for f in messages["k8s.io.api.apps.v1.DeploymentSpec"].fields if f.name == "replicas")
    assert replicas.nullable and not replicas.repeated  # *int32
    assert messages["k8s.io.api.core.v1.PodSpec.NodeSelectorEntry"].map_entry

    structs = gen.read_go_structs(data)
    pod = {f.name: f for f in structs[("k8s.io/api/core/v1", "Pod")].fields}
    assert pod["TypeMeta"].embedded and pod["TypeMeta"].tag == 'json:",inline"'
    assert pod["Spec"].tag == 'json:"spec,omitempty" protobuf:"bytes,2,opt,name=spec"'
    name = structs[("k8s.io/api/core/v1", "Container")].fields[0]
    assert (name.name, name.type, name.tag) == ("Name", "string", 'json:"name" protobuf:"bytes,1,opt,name=name"')


def test_tables_pin_known_fields() -> None:
    messages = protobuf_tables.MESSAGES
    assert protobuf_tables.KUBECTL == "v1.33.1"
    assert messages["k8s.io.api.core.v1.PodTemplateSpec"][2][:2] == ("spec", "k8s.io.api.core.v1.PodSpec")
    assert messages["k8s.io.api.core.v1.PodSpec"][2] == ("containers", "k8s.io.api.core.v1.Container", "repeated")
    assert messages["k8s.io.api.core.v1.Container"][1] == ("name", "string", "keep")  # json:"name"
    assert messages["k8s.io.api.core.v1.Container"][2] == ("image", "string", "")  # json:"image,omitempty"
    assert messages["k8s.io.api.core.v1.ContainerPort"][3] == ("containerPort", "int", "keep")
    assert messages["k8s.io.api.apps.v1.DeploymentSpec"][1] == ("replicas", "int", "keep")  # *int32
    assert messages["k8s.io.api.core.v1.Volume"][2] == ("", "k8s.io.api.core.v1.VolumeSource", "")  # inline
    assert messages["k8s.io.api.core.v1.ConfigMap"][3] == ("binaryData", "map[string]bytes", "")
    assert messages["k8s.io.api.authentication.v1.BoundObjectReference"][4][0] == "uid"  # proto name "uID"
    assert 3 not in messages["k8s.io.api.apps.v1.Deployment"]  # status, the server's
    assert protobuf_tables.WIRE["Unknown"][2] == ("raw", "bytes")


def test_every_generated_message_is_built() -> None:
    assert set(protobuf.KINDS) == set(protobuf_tables.KINDS)
    assert set(protobuf.MESSAGES) == set(protobuf_tables.MESSAGES)
    spec = protobuf.MESSAGES["k8s.io.api.core.v1.PodSpec"]
    assert spec[2].type is protobuf.MESSAGES["k8s.io.api.core.v1.Container"] and spec[2].repeated
    assert spec[32].type == protobuf.Map(protobuf.STRING, protobuf.QUANTITY)
