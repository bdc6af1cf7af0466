"""CertificateSigningRequests: the strategy (``strategy.py``) and the storage that fills in the requester
and serves ``/approval`` (``storage.py``), as ``pkg/registry/certificates/certificates`` splits them.

This package exports the strategy's side only (see ``registry/__init__.py`` for why).
"""

from labkit.apiserver.registry.certificatesigningrequest.strategy import STRATEGY, CSRStrategy, condition_status

__all__ = ["STRATEGY", "CSRStrategy", "condition_status"]
