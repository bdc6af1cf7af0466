"""The CSR approver: a kubelet's client certificate request is approved when its requester may ask for
one (``pkg/controller/certificates/approver/sarapprove.go``).

Each change to a CertificateSigningRequest queues it; the sync leaves alone a request already issued,
approved or denied. A request for the ``kubernetes.io/kube-apiserver-client-kubelet`` signer that is a
kubelet's client certificate (``IsKubeletClientCSR``: O ``system:nodes`` only, CN ``system:node:...``,
no subjectAltNames, usages digital signature and client auth, and key encipherment for RSA) is
recognised twice, in kube's order: as a node renewing its own certificate (``selfnodeclient``: the
requester is the CN) and as a client certificate for a node (``nodeclient``). For each, a
SubjectAccessReview asks whether the requester (``spec.username``, ``groups``, ``uid``, ``extra``) may
``create`` ``certificatesigningrequests/<that subresource>``; the first yes writes the Approved
condition (reason ``AutoApproved``) through ``/approval``. A recognised request that no review allows
is retried with back-off, as kube's ignorable error is.

Who may is RBAC's: ``labkit init`` binds ``nodeclient`` to kubeadm's bootstrap-token group and
``selfnodeclient`` to ``system:nodes`` (``labkit/kubeadm/tlsbootstrap.py``). Left out: denying (kube's
approver never denies either), and the serving certificates (kube leaves them to an outside approver).
"""

from __future__ import annotations

from cryptography import x509

from labkit.apimachinery import certificates as certs
from labkit.apimachinery.meta import Obj
from labkit.apimachinery.timeutil import rfc3339
from labkit.controllers.base import Controller, Result

CSRS = ("certificates.k8s.io/v1", "certificatesigningrequests")
SAR_PATH = "/apis/authorization.k8s.io/v1/subjectaccessreviews"
#: (subresource the requester must be allowed to create, does the request fit it, the approval message)
RECOGNIZERS = (
    ("selfnodeclient", lambda csr, req: _node_client(csr, req) and csr["spec"].get("username") == _cn(req),
     "Auto approving self kubelet client certificate after SubjectAccessReview."),
    ("nodeclient", lambda csr, req: _node_client(csr, req),
     "Auto approving kubelet client certificate after SubjectAccessReview."),
)


def _cn(req: x509.CertificateSigningRequest) -> str:
    names = req.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
    return str(names[0].value) if names else ""


def _node_client(csr: Obj, req: x509.CertificateSigningRequest) -> bool:
    """``isNodeClientCert``."""
    spec = csr["spec"]
    return (spec.get("signerName") == certs.KUBELET_CLIENT_SIGNER
            and not certs.kubelet_client_error(req, spec.get("usages") or []))


class CSRApprovingController(Controller):
    name = "csrapproving"
    watches = [CSRS]

    async def _allowed(self, csr: Obj, subresource: str) -> bool:
        spec = csr["spec"]
        review = {"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview", "spec": {
            "user": spec.get("username", ""), "uid": spec.get("uid", ""), "groups": spec.get("groups") or [],
            "extra": spec.get("extra") or {},
            "resourceAttributes": {"group": "certificates.k8s.io", "version": "*", "verb": "create",
                                   "resource": "certificatesigningrequests", "subresource": subresource}}}
        answer = await self.client.create(SAR_PATH, review)
        return bool((answer.get("status") or {}).get("allowed"))

    async def sync(self, key: str) -> Result | None:
        csr = self.informer(*CSRS).get(key)
        if csr is None or (csr.get("status") or {}).get("certificate") or any(certs.approval(csr)):
            return None
        try:
            req = certs.parse_request(csr["spec"].get("request"))
        except certs.RequestError as e:
            raise ValueError(f"unable to parse csr {key!r}: {e}") from None
        tried = []
        for subresource, recognize, message in RECOGNIZERS:
            if not recognize(csr, req):
                continue
            tried.append(subresource)
            if await self._allowed(csr, subresource):
                conditions = [*((csr.get("status") or {}).get("conditions") or []), {
                    "type": "Approved", "status": "True", "reason": "AutoApproved", "message": message,
                    "lastUpdateTime": rfc3339(self.clock.now())}]
                await self.client.update(f"/apis/{CSRS[0]}/{CSRS[1]}/{key}/approval",
                                         {**csr, "status": {**(csr.get("status") or {}), "conditions": conditions}})
                return None
        # recognised, but no review allowed it: look again later (kube's ignorable error)
        return Result(requeue=True) if tried else None
