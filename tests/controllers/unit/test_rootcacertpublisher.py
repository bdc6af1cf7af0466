"""The root CA publisher alone (``pkg/controller/certificates/rootcacertpublisher``): a
``kube-root-ca.crt`` ConfigMap in every namespace."""

from __future__ import annotations

import pytest

from labkit.controllers.config import ControllerManagerConfig
from labkit.controllers.rootcacertpublisher import RootCACertPublisher
from labkit.testing import fail

from .objects import configmap, namespace

CA = "-----BEGIN CERTIFICATE-----\nMIIB...\n-----END CERTIFICATE-----\n"
WITH_CA = ControllerManagerConfig(root_ca=CA)
PATH = "/api/v1/namespaces/a/configmaps/kube-root-ca.crt"


def test_every_namespace_gets_the_ca_bundle(harness):
    h = harness(RootCACertPublisher, [namespace("a")], config=WITH_CA)
    assert h.drain() == ["a"]
    assert h.writes() == [("create", "configmaps", "a", "", {
        "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "kube-root-ca.crt", "namespace": "a"},
        "data": {"ca.crt": CA}})]


def test_a_changed_bundle_is_restored_and_a_deleted_one_put_back(harness):
    h = harness(RootCACertPublisher, [namespace("a"), configmap("kube-root-ca.crt", "a", {"ca.crt": "tampered"})],
                config=WITH_CA)
    h.drain(watch=True)
    (restore,) = h.writes()
    assert (restore.verb, restore.name, restore.body["data"]) == ("update", "kube-root-ca.crt", {"ca.crt": CA})
    h.clear()
    h.run(h.client.delete(PATH))
    h.drain(watch=True)
    assert [(a.verb, a.resource) for a in h.writes()] == [("delete", "configmaps"), ("create", "configmaps")]


def test_other_config_maps_are_not_its_business(harness):
    h = harness(RootCACertPublisher, [namespace("a"), configmap("kube-root-ca.crt", "a", {"ca.crt": CA}),
                                      configmap("app", "a")], config=WITH_CA)
    h.drain()
    h.run(h.client.delete("/api/v1/namespaces/a/configmaps/app"))
    h.clear()
    assert h.drain(watch=True) == [] and h.actions() == []


@pytest.mark.parametrize("objects, config", [
    ([namespace("doomed", terminating=True)], WITH_CA),
    ([namespace("a")], ControllerManagerConfig()),
], ids=["terminating namespace", "no CA configured"])
def test_nothing_is_published(harness, objects, config):
    h = harness(RootCACertPublisher, objects, config=config)
    h.drain()
    assert h.actions() == []


@pytest.mark.parametrize("code", [403, 409])
def test_a_namespace_now_terminating_or_a_cache_behind_is_not_an_error(harness, code):
    h = harness(RootCACertPublisher, [namespace("a")], config=WITH_CA)
    h.client.prepend_reactor("create", "configmaps", fail(code))
    h.drain()
    assert h.waiting() == []
