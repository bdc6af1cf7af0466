"""HorizontalPodAutoscalers: the v2 strategy (``strategy.py``) and the v1 conversion (``conversion.py``).

Both versions share the store, in ``autoscaling/v2``; ``labkit/apiserver/versions.py`` serves v1
through the conversion.
"""

from labkit.apiserver.registry.horizontalpodautoscaler.conversion import V1_STRATEGY, from_v1, to_v1
from labkit.apiserver.registry.horizontalpodautoscaler.strategy import STRATEGY

__all__ = ["STRATEGY", "V1_STRATEGY", "from_v1", "to_v1"]
