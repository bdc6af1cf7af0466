"""The token cleaner: deletes bootstrap-token Secrets once they expire
(``pkg/controller/bootstrap/tokencleaner.go``).

Each added or updated bootstrap-token Secret in kube-system is looked at: one whose ``expiration`` has
passed (or cannot be read) is deleted, with its uid as a precondition; one that expires later is looked
at again then. A 404 or 409 on the delete means someone else got there first.

Left out: resync periods.
"""

from __future__ import annotations

from labkit.apimachinery import bootstraptoken as bt
from labkit.apimachinery.meta import Obj
from labkit.client import APIStatusError, resource_path
from labkit.controllers.base import Controller, Result
from labkit.controllers.bootstrapsigner import is_token_secret


class TokenCleaner(Controller):
    name = "token-cleaner"
    resource = "secrets"

    def register(self) -> None:
        self.informer("v1", "secrets").add_handlers(on_add=self._secret_changed,
                                                    on_update=lambda _old, s: self._secret_changed(s))

    def _secret_changed(self, secret: Obj) -> None:
        if is_token_secret(secret):
            self.enqueue(secret)

    async def sync(self, key: str) -> Result | None:
        secret = self.informer("v1", "secrets").get(key)
        if secret is None or secret.get("type") != bt.SECRET_TYPE:
            return None
        left, expired = bt.time_remaining(secret, self.clock.now())
        meta = secret["metadata"]
        if expired:
            body = {"kind": "DeleteOptions", "apiVersion": "v1", "preconditions": {"uid": meta["uid"]}} \
                if meta.get("uid") else None
            try:
                await self.client.delete(resource_path("v1", "secrets", namespace=meta["namespace"],
                                                       name=meta["name"]), body)
            except APIStatusError as e:
                if e.code not in (404, 409):
                    raise
            return None
        return Result(requeue_after=left.total_seconds()) if left is not None else None
