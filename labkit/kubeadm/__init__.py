"""``labkit init`` and ``labkit join``: kubeadm's two commands for an HA control plane.

Mirrors ``cmd/kubeadm/app/cmd/{init,join}.go`` and the phases they run: :mod:`.init` (after
:class:`labkit.Cluster` with ``control_plane_endpoint`` has started the first member: upload-config,
upload-certs, bootstrap-token, the join commands), :mod:`.join` (discovery, download-certs, the etcd
learner join, the member's components; leaving is ``kubeadm reset``), :mod:`.copycerts` (the
``kubeadm-certs`` Secret, AES-GCM with the certificate key) and :mod:`.uploadconfig` (the
``kubeadm-config`` ConfigMap), :mod:`.joinworker` (a worker: the kubelet's TLS bootstrap, then its
kubelet in this process) and :mod:`.tlsbootstrap` (the RBAC that lets a node token's CSR be approved).
Token discovery and the join command are :mod:`labkit.bootstrap`'s. Each module says what it leaves out.
"""
