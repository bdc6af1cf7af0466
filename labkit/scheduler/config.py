"""kube-scheduler's configuration file: ``KubeSchedulerConfiguration`` (``kubescheduler.config.k8s.io/v1``).

Mirrors ``pkg/scheduler/apis/config`` (``v1/defaults.go``, ``v1/default_plugins.go``'s merge of a
profile's plugins into the default ones), ``validation/validation.go`` and
``validation_pluginargs.go`` (``ValidateKubeSchedulerConfiguration``, ``ValidateNodeResourcesFitArgs``)
and the checks ``framework/runtime`` makes as it builds each profile. What labkit applies:

- ``profiles[]``: each a ``schedulerName`` (pods pick one with ``spec.schedulerName``; v1 names a
  lone profile ``default-scheduler``), and the top-level ``percentageOfNodesToScore``;
- ``plugins.score``: ``enabled`` (a default plugin re-weighted, ``weight`` 0 meaning 1) and
  ``disabled`` (by name, or ``*`` for every default Score plugin), over kube 1.33's default profile
  (:data:`~labkit.scheduler.plugins.DEFAULT_WEIGHTS`);
- ``pluginConfig`` for ``NodeResourcesFit``: ``scoringStrategy`` (``type``, ``resources``,
  ``requestedToCapacityRatio.shape``), defaulted as v1 defaults it.

Errors are kube's: the configuration's validation errors first (several in brackets, as Go's
aggregate prints them), else the first profile that cannot be built, as ``initializing profiles:
creating profile for scheduler name ...``. NodeResourcesFit's arguments are checked when the plugin
is built (kube's validation table lists them under ``NodeResourcesFitArgs``, a name no plugin has),
so their field paths start at ``scoringStrategy``. A duplicate ``schedulerName`` names the first
profile's path where Go prints its internal struct. Left out (refused with a message saying so):
other extension points, other plugins' arguments, a profile's own percentageOfNodesToScore,
extenders, leader election and client settings.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import yaml

from labkit.apimachinery.validation import Cause, duplicate, forbidden, invalid, not_supported, required
from labkit.scheduler.interface import ScorePlugin, extension_points
from labkit.scheduler.plugins import DEFAULT_WEIGHTS, default_plugins
from labkit.scheduler.plugins.noderesources import (
    DEFAULT_RESOURCES,
    LEAST_ALLOCATED,
    MAX_CUSTOM_PRIORITY_SCORE,
    REQUESTED_TO_CAPACITY_RATIO,
    SCORING_STRATEGIES,
    NodeResourcesFit,
    Shape,
)
from labkit.scheduler.profile import DEFAULT_SCHEDULER_NAME, Profile
from labkit.scheduler.scheduler import Scheduler

if TYPE_CHECKING:
    from labkit.client import Client

API_VERSION = "kubescheduler.config.k8s.io/v1"
KIND = "KubeSchedulerConfiguration"
FIT = "NodeResourcesFit"
APPLIED_FIELDS = {"apiVersion", "kind", "profiles", "percentageOfNodesToScore"}
PROFILE_FIELDS = {"schedulerName", "plugins", "pluginConfig", "percentageOfNodesToScore"}
SCORE_POINT = "score"
Obj = dict[str, Any]


class InvalidConfiguration(ValueError):
    """kube-scheduler would refuse to start with this configuration; ``str()`` says why, as it does."""


def aggregate(errors: list[str]) -> str:
    """Go's ``utilerrors.Aggregate``: one error as it is, several in brackets."""
    return errors[0] if len(errors) == 1 else "[" + ", ".join(errors) + "]"


@dataclasses.dataclass(frozen=True)
class ScoringStrategy:
    """``NodeResourcesFitArgs.scoringStrategy``, defaulted."""

    type: str = LEAST_ALLOCATED
    resources: tuple[tuple[str, int], ...] = DEFAULT_RESOURCES
    shape: Shape = ()

    def describe(self) -> str:
        weights = ", ".join(f"{name} {weight}" for name, weight in self.resources)
        return f"{self.type} ({weights})"


@dataclasses.dataclass(frozen=True)
class ProfileConfig:
    """One profile as kube-scheduler builds it: the Score plugins in order with their weights."""

    scheduler_name: str
    score_weights: dict[str, int]
    fit: ScoringStrategy

    def profile(self) -> Profile:
        """A :class:`Profile` with fresh plugin instances (each scheduler gets its own)."""
        plugins = [NodeResourcesFit(self.fit.type, self.fit.resources, self.fit.shape) if p.name == FIT else p
                   for p in default_plugins()]
        return Profile(self.scheduler_name, plugins=plugins, weights=dict(self.score_weights),
                       scoring=tuple(self.score_weights))

    def describe(self) -> str:
        scores = ", ".join(f"{name} {weight}" for name, weight in self.score_weights.items()) or "none"
        return f"{self.scheduler_name}: NodeResourcesFit {self.fit.describe()}; score weights {scores}"


@dataclasses.dataclass(frozen=True)
class SchedulerConfiguration:
    """A checked configuration: what :meth:`labkit.Cluster.configure_scheduler` restarts the scheduler with."""

    profiles: tuple[ProfileConfig, ...]
    percentage_of_nodes_to_score: int = 0

    def build_profiles(self) -> list[Profile]:
        return [p.profile() for p in self.profiles]

    def scheduler(self, client: Client, *, elector: Any = None, seed: int | None = None) -> Scheduler:
        """A kube-scheduler started from this file (``kube-scheduler --config``)."""
        return Scheduler(client, profiles=self.build_profiles(), elector=elector, seed=seed,
                         percentage_of_nodes_to_score=self.percentage_of_nodes_to_score)

    def describe(self) -> str:
        return "; ".join(p.describe() for p in self.profiles)


#: kube-scheduler without ``--config``: kube 1.33's default profile
DEFAULT_CONFIGURATION = SchedulerConfiguration((ProfileConfig(DEFAULT_SCHEDULER_NAME, dict(DEFAULT_WEIGHTS),
                                                              ScoringStrategy()),))


def _score_plugin_names() -> dict[str, bool]:
    """Every plugin labkit has (kube's registry, as far as labkit goes) -> whether it scores."""
    return {p.name: ScorePlugin in extension_points(p) for p in default_plugins()}


def _shape_errors(shape: Any, path: str) -> list[Cause]:
    if not isinstance(shape, list) or not shape:
        return [required(path, "at least one point must be specified")]
    errs: list[Cause] = []
    points = [(p.get("utilization", 0), p.get("score", 0)) if isinstance(p, dict) else (0, 0) for p in shape]
    for i in range(1, len(points)):
        if points[i - 1][0] >= points[i][0]:
            errs.append(invalid(f"{path}[{i}].utilization", points[i][0], "values must be sorted in increasing order"))
            break
    for i, (utilization, score) in enumerate(points):
        if not 0 <= utilization <= 100:
            errs.append(invalid(f"{path}[{i}].utilization", utilization, "not in valid range [0, 100]"))
        if not 0 <= score <= MAX_CUSTOM_PRIORITY_SCORE:
            errs.append(invalid(f"{path}[{i}].score", score, f"not in valid range [0, {MAX_CUSTOM_PRIORITY_SCORE}]"))
    return errs


def fit_args(args: Any) -> ScoringStrategy:
    """``NodeResourcesFitArgs`` defaulted (v1) and checked as ``NewFit`` checks them; InvalidConfiguration
    with the plugin's errors (paths from ``scoringStrategy``)."""
    args = args if isinstance(args, dict) else {}
    for unsupported in ("ignoredResources", "ignoredResourceGroups"):
        if args.get(unsupported):
            raise InvalidConfiguration(f"labkit's NodeResourcesFit does not apply {unsupported}")
    strategy = args.get("scoringStrategy")
    if strategy is None:
        return ScoringStrategy()
    kind = strategy.get("type", "")
    resources = strategy.get("resources") or [{"name": n, "weight": w} for n, w in DEFAULT_RESOURCES]
    errs: list[Cause] = []
    if kind not in SCORING_STRATEGIES:
        errs.append(not_supported("scoringStrategy.type", kind, sorted(SCORING_STRATEGIES)))
    pairs = []
    for i, r in enumerate(resources):
        name, weight = r.get("name", ""), r.get("weight") or 1  # v1 defaults a weight of 0 to 1
        if not 0 < weight <= 100:
            errs.append(invalid(f"scoringStrategy.resources[{i}].weight", weight,
                                f"resource weight of {name} not in valid range (0, 100]"))
        pairs.append((name, weight))
    ratio = strategy.get("requestedToCapacityRatio")
    shape: list[Any] = []
    if kind == REQUESTED_TO_CAPACITY_RATIO:
        if ratio is None:
            errs.append(required("scoringStrategy.requestedToCapacityRatio",
                                 "must be specified when type is RequestedToCapacityRatio"))
        else:
            shape = ratio.get("shape") or []
            errs += _shape_errors(shape, "scoringStrategy.requestedToCapacityRatio.shape")
    elif ratio is not None:
        errs.append(forbidden("scoringStrategy.requestedToCapacityRatio",
                              "must be nil when type is not RequestedToCapacityRatio"))
    if errs:
        raise InvalidConfiguration(aggregate([str(e) for e in errs]))
    return ScoringStrategy(kind, tuple(pairs), tuple((p.get("utilization", 0), p.get("score", 0)) for p in shape))


def _score_weights(plugins: Any, registry: dict[str, bool]) -> dict[str, int]:
    """The profile's Score plugins and weights: kube 1.33's defaults merged with ``plugins.score``
    (``mergePluginSet`` and the framework's ``expandMultiPointPlugins`` / ``getScoreWeights``)."""
    plugins = plugins or {}
    others = sorted(k for k, v in plugins.items() if v and k not in (SCORE_POINT, "multiPoint"))
    if others or plugins.get("multiPoint"):
        raise InvalidConfiguration(f"labkit applies plugins.score only, not plugins.{(others or ['multiPoint'])[0]}")
    score = plugins.get(SCORE_POINT) or {}
    disabled = {p.get("name", "") for p in score.get("disabled") or []}
    enabled: dict[str, int] = {}
    for p in score.get("enabled") or []:
        name = p.get("name", "")
        if name not in registry:
            raise InvalidConfiguration(f'ScorePlugin "{name}" does not exist')
        if not registry[name]:
            raise InvalidConfiguration(f'plugin "{name}" does not extend ScorePlugin plugin')
        if name in enabled:
            raise InvalidConfiguration(f'plugin "{name}" already registered as "ScorePlugin"')
        enabled[name] = p.get("weight") or 1  # a weight of 0 means 1
    weights = dict(enabled)  # explicitly enabled ones first, then the defaults left
    if "*" not in disabled:
        for name, weight in DEFAULT_WEIGHTS.items():
            if name not in disabled and name not in weights:
                weights[name] = weight
    return weights


def _profile_errors(profile: Any, path: str) -> list[Cause]:
    if not isinstance(profile, dict):
        return [invalid(path, profile, "must be an object")]
    errs: list[Cause] = []
    if not profile.get("schedulerName"):
        errs.append(required(f"{path}.schedulerName"))
    errs += _percentage_errors(profile.get("percentageOfNodesToScore"), f"{path}.percentageOfNodesToScore")
    seen: set[str] = set()
    for i, pc in enumerate(profile.get("pluginConfig") or []):
        name = pc.get("name", "") if isinstance(pc, dict) else ""
        if name in seen:
            errs.append(duplicate(f"{path}.pluginConfig[{i}]", name))
        seen.add(name)
    return errs


def _percentage_errors(value: Any, path: str) -> list[Cause]:
    if value is not None and not 0 <= value <= 100:
        return [invalid(path, value, "not in valid range [0-100]")]
    return []


def _build_profile(profile: Obj, registry: dict[str, bool]) -> ProfileConfig:
    name = profile["schedulerName"]
    unknown = sorted(set(profile) - PROFILE_FIELDS)
    if unknown:
        raise InvalidConfiguration(f'strict decoding error: unknown field "{unknown[0]}"')
    fit = ScoringStrategy()
    for pc in profile.get("pluginConfig") or []:
        if pc.get("name") != FIT:
            raise InvalidConfiguration(f"labkit applies pluginConfig for {FIT} only, not {pc.get('name')!r}")
        try:
            fit = fit_args(pc.get("args"))
        except InvalidConfiguration as e:
            raise InvalidConfiguration(f'initializing plugin "{FIT}": {e}') from None
    if profile.get("percentageOfNodesToScore") is not None:
        raise InvalidConfiguration("labkit applies percentageOfNodesToScore to the whole scheduler, not per profile")
    return ProfileConfig(name, _score_weights(profile.get("plugins"), registry), fit)



def load_configuration(config: str | Mapping[str, Any]) -> SchedulerConfiguration:
    """Parse (YAML or a dict), default and check a ``KubeSchedulerConfiguration``; InvalidConfiguration
    with kube-scheduler's message when it would refuse it."""
    doc = yaml.safe_load(config) if isinstance(config, str) else copy.deepcopy(dict(config))
    if not isinstance(doc, dict):
        raise InvalidConfiguration("a KubeSchedulerConfiguration is a mapping (YAML or a dict)")
    if doc.get("apiVersion") != API_VERSION or doc.get("kind") != KIND:
        raise InvalidConfiguration(f'no kind "{doc.get("kind", "")}" is registered for version '
                                   f'"{doc.get("apiVersion", "")}": write apiVersion: {API_VERSION}, kind: {KIND}')
    unknown = sorted(set(doc) - APPLIED_FIELDS)
    if unknown:
        raise InvalidConfiguration(f"labkit's scheduler applies profiles and percentageOfNodesToScore, "
                                   f"not {unknown[0]}")
    profiles = doc.get("profiles") or [{}]  # v1 defaulting: no profile is one profile
    if len(profiles) == 1 and isinstance(profiles[0], dict):  # and a lone profile is the default scheduler
        profiles[0].setdefault("schedulerName", DEFAULT_SCHEDULER_NAME)
    errs: list[Cause] = []
    first: dict[str, int] = {}
    for i, profile in enumerate(profiles):
        errs += _profile_errors(profile, f"profiles[{i}]")
        name = profile.get("schedulerName") if isinstance(profile, dict) else None
        if name in first:
            errs.append(duplicate(f"profiles[{i}].schedulerName", f"profiles[{first[name]}].schedulerName"))
        elif name:
            first[name] = i
    errs += _percentage_errors(doc.get("percentageOfNodesToScore"), "percentageOfNodesToScore")
    if errs:
        raise InvalidConfiguration(aggregate([str(e) for e in errs]))
    registry = _score_plugin_names()
    built = []
    for profile in profiles:
        try:
            built.append(_build_profile(profile, registry))
        except InvalidConfiguration as e:
            raise InvalidConfiguration(f"initializing profiles: creating profile for scheduler name "
                                       f"{profile['schedulerName']}: {e}") from None
    return SchedulerConfiguration(tuple(built), doc.get("percentageOfNodesToScore") or 0)
