"""The ServiceAccount strategy (``pkg/registry/core/serviceaccount/strategy.go``).

ServiceAccounts need nothing beyond metadata validation (``ValidateServiceAccount``); this adds the
``printServiceAccount`` columns. The ``/token`` subresource is ``storage.py`` beside this module.
Left out: the legacy token-Secret references are stored as given (no controller creates token
Secrets since Kubernetes 1.24).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from labkit.apimachinery.meta import Obj
from labkit.apiserver.strategy import AGE_COLUMN, Column, Strategy, age


class ServiceAccountStrategy(Strategy):
    kind = "ServiceAccount"
    columns = (Column("Secrets", description="Number of Secrets listed in secrets."), AGE_COLUMN)

    def cells(self, obj: Obj, now: dt.datetime) -> list[Any]:
        return [len(obj.get("secrets") or []), age(obj, now)]


STRATEGY = ServiceAccountStrategy()
