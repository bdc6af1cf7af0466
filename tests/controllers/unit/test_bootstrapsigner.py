"""The bootstrap signer alone (``pkg/controller/bootstrap/bootstrapsigner_test.go``'s cases): one
``jws-kubeconfig-<id>`` on ``kube-public/cluster-info`` per token that may sign."""

from __future__ import annotations

import datetime as dt

from labkit.apimachinery import bootstraptoken as bt
from labkit.apimachinery.meta import Obj
from labkit.controllers.bootstrapsigner import BootstrapSigner
from labkit.testing.clock import EPOCH

from .objects import configmap, meta

KUBECONFIG = "apiVersion: v1\nkind: Config\n"
TOKEN, OTHER = "abcdef.0123456789abcdef", "zyxwvu.fedcba9876543210"
PATH = "/api/v1/namespaces/kube-system/secrets"


def cluster_info(**signatures: str) -> Obj:
    return configmap("cluster-info", "kube-public", {"kubeconfig": KUBECONFIG, **signatures})


def token(value: str = TOKEN, *, ttl: dt.timedelta | None = dt.timedelta(hours=1), usages: tuple[str, ...] = (
        "signing", "authentication")) -> Obj:
    secret = bt.token_secret(value, now=EPOCH, ttl=ttl, usages=usages)
    secret["metadata"] = meta(secret["metadata"]["name"], "kube-system")
    return secret


def sig(value: str = TOKEN) -> str:
    token_id, secret = bt.parse_token(value)
    return bt.detached_signature(KUBECONFIG, token_id, secret)


def test_no_config_map_nothing_to_sign(harness):
    h = harness(BootstrapSigner, [token()])
    h.drain()
    assert h.actions() == []


def test_every_signing_token_signs_cluster_info(harness):
    h = harness(BootstrapSigner, [cluster_info(), token(), token(OTHER, ttl=None)])
    assert h.drain() == ["kube-public/cluster-info"]
    (update,) = h.writes()
    assert (update.verb, update.namespace, update.name) == ("update", "kube-public", "cluster-info")
    assert update.body["data"] == {"kubeconfig": KUBECONFIG, "jws-kubeconfig-abcdef": sig(),
                                   "jws-kubeconfig-zyxwvu": sig(OTHER)}


def test_signed_already_nothing_is_written(harness):
    h = harness(BootstrapSigner, [cluster_info(**{"jws-kubeconfig-abcdef": sig()}), token()])
    h.drain()
    assert h.writes() == []


def test_signatures_of_unknown_tokens_are_removed_and_wrong_ones_fixed(harness):
    h = harness(BootstrapSigner, [cluster_info(**{"jws-kubeconfig-abcdef": "bad", "jws-kubeconfig-gone00": "x"}),
                                  token()])
    h.drain()
    (update,) = h.writes()
    assert update.body["data"] == {"kubeconfig": KUBECONFIG, "jws-kubeconfig-abcdef": sig()}


def test_tokens_that_may_not_sign_do_not(harness):
    expired = token(ttl=dt.timedelta(hours=-1))
    no_signing = token(OTHER, usages=("authentication",))
    misnamed = token("qqqqqq.0123456789abcdef")
    misnamed["metadata"]["name"] = "bootstrap-token-pppppp"
    elsewhere = token("rrrrrr.0123456789abcdef")
    elsewhere["metadata"]["namespace"] = "default"
    opaque = {**token("ssssss.0123456789abcdef"), "type": "Opaque"}
    h = harness(BootstrapSigner, [cluster_info(), expired, no_signing, misnamed, elsewhere, opaque])
    h.drain()
    assert h.writes() == []


def test_a_new_token_signs_and_a_deleted_one_unsigns(harness):
    h = harness(BootstrapSigner, [cluster_info()])
    h.drain()
    h.run(h.client.create(PATH, token()))
    h.drain(watch=True)
    assert h.objects("v1", "configmaps")[0]["data"]["jws-kubeconfig-abcdef"] == sig()
    h.clear()
    h.run(h.client.delete(f"{PATH}/bootstrap-token-abcdef"))
    h.drain(watch=True)
    assert h.objects("v1", "configmaps")[0]["data"] == {"kubeconfig": KUBECONFIG}
    assert [(a.verb, a.resource) for a in h.writes()] == [("delete", "secrets"), ("update", "configmaps")]


def test_a_new_kubeconfig_is_signed_again(harness):
    h = harness(BootstrapSigner, [cluster_info(**{"jws-kubeconfig-abcdef": sig()}), token()])
    h.drain()
    cm = h.objects("v1", "configmaps")[0]
    h.run(h.client.update("/api/v1/namespaces/kube-public/configmaps/cluster-info",
                          {**cm, "data": {"kubeconfig": "changed"}}))
    h.drain(watch=True)
    token_id, secret = bt.parse_token(TOKEN)
    assert h.objects("v1", "configmaps")[0]["data"] == {
        "kubeconfig": "changed", "jws-kubeconfig-abcdef": bt.detached_signature("changed", token_id, secret)}


def test_other_config_maps_and_secrets_are_not_its_business(harness):
    h = harness(BootstrapSigner, [configmap("cluster-info", "default", {"kubeconfig": KUBECONFIG}),
                                  {"apiVersion": "v1", "kind": "Secret", "metadata": meta("s", "kube-system"),
                                   "type": "Opaque"}])
    assert h.drain() == []
