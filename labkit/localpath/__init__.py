"""The cluster's default storage: rancher's local-path-provisioner, as kind installs it.

A claim of the ``standard`` StorageClass (the default) gets a PersistentVolume backed by a host
directory of its own under the cluster's work directory (``provisioner.py``); ``deploy.py`` creates
what the project's manifest creates through the API (namespace, ServiceAccount, RBAC, the class).
"""

from labkit.localpath.deploy import CLASS_NAME, PROVISIONER_NAME, install
from labkit.localpath.provisioner import LocalPathProvisioner

__all__ = ["CLASS_NAME", "PROVISIONER_NAME", "LocalPathProvisioner", "install"]
