"""The node agent (kubelet): see :mod:`labkit.kubelet.kubelet` for the map of this package."""

from labkit.kubelet.kubelet import Kubelet, KubeletConfig

__all__ = ["Kubelet", "KubeletConfig"]
