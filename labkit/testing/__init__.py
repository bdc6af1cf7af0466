"""Fakes for testing a component without a cluster: a client, informers, a clock, and a driver.

Mirrors what client-go and kube give their own unit tests: ``k8s.io/client-go/kubernetes/fake`` and
``k8s.io/client-go/testing`` (:class:`FakeClient`, :class:`ObjectTracker`, :class:`Action`, reactors,
in ``fake``), the informer factory run on a fake clientset (:class:`FakeInformers`, in
``informers``), ``k8s.io/utils/clock/testing`` (:class:`FakeClock`, in ``clock``), and the fixture of
kube's controller tests (:class:`Harness` and :func:`drain`, in ``controller``)::

    with Harness(ReplicaSetController, [rs, pod]) as h:
        h.drain()                       # every key the objects queue, synced until the queue is empty
        assert h.writes() == [("create", "pods", "default", "", {...}), ...]
        assert h.events() == ["Normal SuccessfulCreate Created pod: web-x7k2p", ...]

It lives in the package, not under ``tests/``, as client-go's fake ships in the library: anyone
writing a controller on labkit (a learner's own, in the course's §3.3) can test it the same way.
Nothing here opens a socket, leaves a task running between calls, or reads the system clock (an Event's
own timestamps excepted: the recorder stamps them).

Left out: fakes of the API server's behaviour beyond what ``fake`` lists (validation, admission,
graceful deletion), and of the kubelet or the scheduler.
"""

from labkit.testing.clock import FakeClock
from labkit.testing.controller import Harness, drain
from labkit.testing.fake import Action, FakeClient, ObjectTracker, Reactor, fail, status_error
from labkit.testing.informers import FakeInformers

__all__ = ["Action", "FakeClient", "FakeClock", "FakeInformers", "Harness", "ObjectTracker", "Reactor", "drain",
           "fail", "status_error"]
