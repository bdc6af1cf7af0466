"""The ``ResourceQuota`` admission plugin: refuse what would exceed a quota, and charge what is let in.

Mirrors ``k8s.io/apiserver/pkg/admission/plugin/resourcequota`` (``quotaEvaluator.checkQuotas`` and
``CheckRequest``) with the evaluators of :mod:`labkit.quota`. For each write it measures, every
quota of the namespace that limits something the object uses (by ``status.hard``) and whose scopes
all hold is checked, in order:

- a tracked cpu or memory the containers do not state: 403 ``failed quota: <q>: must specify ...``;
- a quota the controller has not counted yet: 403 ``status unknown for quota: <q>, resources: ...``;
- a sum above ``hard``: 403 ``exceeded quota: <q>, requested: ..., used: ..., limited: ...``.

What passes is charged at once: the new ``status.used`` is written to each quota with
compare-and-swap on its resourceVersion; a lost race reads the quotas again and checks only those
(3 retries, then the conflict is the answer). A dry run is checked and not charged. An UPDATE is
charged its increase over the old object (services; pods only count on CREATE). The resource quota
controller corrects ``status.used`` later, when objects go away.

Events and the other resources kube ignores are never charged. Left out: the per-namespace work
queue that batches concurrent requests (compare-and-swap alone keeps the counts right), the 10 s
evaluation timeout, ``LimitedResources`` from the admission configuration, and the ``quota usage is
negative`` check (validation refuses negative requests first).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from labkit.apimachinery.meta import Obj
from labkit.apiserver import errors
from labkit.apiserver.admission import AdmissionPlugin, Attributes
from labkit.quota import (
    IGNORED,
    add,
    evaluator_for,
    exceeded,
    format_list,
    mask,
    matches,
    parse_list,
    pretty,
    remove_zeros,
    subtract_non_negative,
)

RETRIES = 3
#: the namespace's ResourceQuotas
ListQuotas = Callable[[str], list[Obj]]
#: writes a quota's status with compare-and-swap on its resourceVersion; raises a 409 ApiError on a lost race
UpdateStatus = Callable[[Obj], None]


class ResourceQuota(AdmissionPlugin):
    name = "ResourceQuota"

    def __init__(self, list_quotas: ListQuotas, update_status: UpdateStatus,
                 clock: Callable[[], dt.datetime]) -> None:
        self._list_quotas, self._update_status, self._clock = list_quotas, update_status, clock

    def validate(self, attrs: Attributes, obj: Obj | None, old: Obj | None) -> None:
        res = attrs.resource
        if obj is None or not res.namespaced or not res.stored or (res.group, res.plural) in IGNORED:
            return
        evaluator = evaluator_for(res.plural, res.group)
        if not evaluator.handles(attrs.operation, attrs.subresource):
            return
        names: set[str] | None = None  # None: every quota; else the ones whose status write lost a race
        conflict: errors.ApiError | None = None
        for _ in range(RETRIES + 1):
            quotas = [q for q in self._list_quotas(attrs.namespace) if names is None or q["metadata"]["name"] in names]
            charged = self._charge(attrs, obj, old, quotas)
            if attrs.dry_run or not charged:
                return
            failed = set()
            for quota in charged:
                try:
                    self._update_status(quota)
                except errors.ApiError as e:
                    if e.code != 409:
                        raise
                    failed.add(quota["metadata"]["name"])
                    conflict = e
            if not failed:
                return
            names = failed
        assert conflict is not None
        raise conflict

    def _charge(self, attrs: Attributes, obj: Obj, old: Obj | None, quotas: list[Obj]) -> list[Obj]:
        """``CheckRequest``: the quotas with their new ``status.used``, only those that change; raises a 403."""
        res = attrs.resource
        evaluator = evaluator_for(res.plural, res.group)

        def forbidden(message: str) -> errors.ApiError:
            return errors.forbidden(f'{res.qualified} "{attrs.name}" is forbidden: {message}', res.plural,
                                    attrs.name, res.group)

        interesting = []
        for quota in quotas:
            if not matches(quota, evaluator, obj):
                continue
            status = quota.get("status") or {}
            restricted = evaluator.matching_resources(status.get("hard") or {})
            failure = evaluator.constraints(restricted, obj)
            if failure:
                raise forbidden(f"failed quota: {quota['metadata']['name']}: {failure}")
            if any(name not in (status.get("used") or {}) for name in restricted):
                raise forbidden(f"status unknown for quota: {quota['metadata']['name']}, resources: "
                                f"{','.join(sorted(restricted))}")
            interesting.append(quota)
        if not interesting:
            return []
        now = self._clock()
        delta = evaluator.usage(obj, now)
        if attrs.operation == "UPDATE" and old is not None:
            delta = subtract_non_negative(delta, evaluator.usage(old, now))
        delta = remove_zeros(delta)
        out = []
        for quota in interesting:
            status = quota.get("status") or {}
            hard, used = parse_list(status.get("hard")), parse_list(status.get("used"))
            requested = mask(delta, hard)
            if not requested:
                continue
            new_used = add(used, requested)
            over = exceeded(mask(new_used, requested), hard)
            if over:
                raise forbidden(f"exceeded quota: {quota['metadata']['name']}, "
                                f"requested: {pretty(mask(requested, over))}, used: {pretty(mask(used, over))}, "
                                f"limited: {pretty(mask(hard, over))}")
            out.append({**quota, "status": {**status, "used": format_list(new_used)}})
        return out
