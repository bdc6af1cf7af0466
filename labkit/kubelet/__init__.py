"""The node agent (kubelet). For now: node registration (``registration.py``)."""
