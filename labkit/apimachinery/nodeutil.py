"""What a node's status says: its conditions (``Ready``, the pressure conditions).

Mirrors ``GetNodeCondition`` (``pkg/controller/util/node``, ``pkg/api/v1/node``): the node lifecycle
and pod GC controllers read a node's ``Ready`` with it, the API server prints it in the STATUS
column, the NodeHealth widget draws its transitions. Taints and tolerations are
:mod:`labkit.apimachinery.taints`.

Left out: ``IsNodeReady``'s callers' other helpers (``GetNodeHostIP``, ``GetZoneKey`` ...), which
no labkit component needs.
"""

from __future__ import annotations

from labkit.apimachinery.meta import Obj, find_status_condition


def get_node_condition(node: Obj, condition_type: str) -> Obj | None:
    """The node's condition of ``condition_type`` (``Ready``, ``MemoryPressure`` ...), if it has one."""
    return find_status_condition((node.get("status") or {}).get("conditions"), condition_type)
