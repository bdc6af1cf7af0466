"""The horizontal pod autoscaler (``pkg/controller/podautoscaler``): the controller in
``horizontal.py``, the replica arithmetic in ``replica_calculator.py``, the resource metrics API
client in ``metrics.py``."""

from labkit.controllers.podautoscaler.horizontal import HorizontalController

__all__ = ["HorizontalController"]
