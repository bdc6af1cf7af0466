"""The bootstrap signer: ``kube-public/cluster-info`` carries one ``jws-kubeconfig-<id>`` per token
that may sign (``pkg/controller/bootstrap/bootstrapsigner.go``).

A joining node that knows a token fetches ``cluster-info`` anonymously and checks the signature of its
``kubeconfig`` with the token's secret: that proves the API server knows the token. Every change to the
ConfigMap or to a bootstrap-token Secret in kube-system queues the ConfigMap's one key; the sync signs
``kubeconfig`` with every token whose Secret is named after its id, has an id and a secret, has not
expired and says ``usage-bootstrap-signing: "true"`` (``validateSecretForSigning``), drops the
signatures of every other id, and writes the ConfigMap only when that changed them. An expired token's
signature goes when the token cleaner deletes its Secret.

Left out: resync periods; a 409 or 404 on the update is retried with back-off (kube drops it and waits
for the next event).
"""

from __future__ import annotations

from labkit.apimachinery import bootstraptoken as bt
from labkit.apimachinery.meta import Obj
from labkit.client import resource_path
from labkit.controllers.base import Controller

NAMESPACE = "kube-public"
KEY = f"{NAMESPACE}/{bt.CLUSTER_INFO}"
SECRETS_NAMESPACE = "kube-system"


def is_token_secret(secret: Obj) -> bool:
    """A bootstrap-token Secret in kube-system: what the signer and the token cleaner look at."""
    return secret.get("type") == bt.SECRET_TYPE and secret["metadata"].get("namespace") == SECRETS_NAMESPACE


class BootstrapSigner(Controller):
    name = "bootstrap-signer"
    resource = "configmaps"

    def register(self) -> None:
        self.informer("v1", "configmaps").add_handlers(on_add=self._configmap_changed,
                                                       on_update=lambda _old, cm: self._configmap_changed(cm))
        self.informer("v1", "secrets").add_handlers(on_add=self._secret_changed,
                                                    on_update=lambda _old, s: self._secret_changed(s),
                                                    on_delete=self._secret_changed)

    def _configmap_changed(self, cm: Obj) -> None:
        if (cm["metadata"].get("namespace"), cm["metadata"]["name"]) == (NAMESPACE, bt.CLUSTER_INFO):
            self.queue.add(KEY)

    def _secret_changed(self, secret: Obj) -> None:
        if is_token_secret(secret):
            self.queue.add(KEY)

    def _signing_tokens(self) -> dict[str, str]:
        """token id -> secret of every token that may sign now."""
        tokens: dict[str, str] = {}
        now = self.clock.now()
        for secret in self.informer("v1", "secrets").list(SECRETS_NAMESPACE):
            if not is_token_secret(secret):
                continue
            token_id = bt.secret_data(secret, bt.ID_KEY)
            token_secret = bt.secret_data(secret, bt.SECRET_KEY)
            if (token_id and token_secret and token_id not in tokens
                    and bt.id_from_secret_name(secret["metadata"]["name"]) == token_id
                    and not bt.has_expired(secret, now)
                    and bt.secret_data(secret, bt.USAGE_SIGNING) == "true"):
                tokens[token_id] = token_secret
        return tokens

    async def sync(self, key: str) -> None:
        cm = self.informer("v1", "configmaps").get(KEY)
        data = (cm or {}).get("data") or {}
        if cm is None or bt.KUBECONFIG_KEY not in data:
            return
        content = data[bt.KUBECONFIG_KEY]
        signed = {k: v for k, v in data.items() if not k.startswith(bt.JWS_PREFIX)}
        signed.update({bt.JWS_PREFIX + token_id: bt.detached_signature(content, token_id, secret)
                       for token_id, secret in self._signing_tokens().items()})
        if signed != data:
            await self.client.update(resource_path("v1", "configmaps", namespace=NAMESPACE, name=bt.CLUSTER_INFO),
                                     {**cm, "data": signed})
