"""HorizontalPodAutoscalers: the v2 strategy (``strategy.py``) and the v1 conversion (``conversion.py``).

Both versions share the store, in ``autoscaling/v2``; ``labkit/apiserver/versions.py`` serves v1
through the conversion (and Tables, of either version, from the stored object, as kube prints them
from its internal version).
"""

from labkit.apiserver.registry.horizontalpodautoscaler.conversion import from_v1, to_v1
from labkit.apiserver.registry.horizontalpodautoscaler.strategy import STRATEGY

__all__ = ["STRATEGY", "from_v1", "to_v1"]
