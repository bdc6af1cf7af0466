"""Settings of the controller manager (``KubeControllerManagerConfiguration``), with teaching timings.

Each field names the kube-controller-manager flag it stands for. Defaults are kube's except where a
lesson would otherwise wait minutes (noted per field).
"""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(slots=True)
class ControllerManagerConfig:
    # --node-monitor-grace-period (kube: 40s): a node whose Lease is older turns Ready=Unknown
    node_monitor_grace_period: float = 8.0
    # --node-monitor-period (kube: 5s): how often node health is checked
    node_monitor_period: float = 1.0
    # --cluster-cidr and --node-cidr-mask-size (kube: no default; kind uses these)
    cluster_cidr: str = "10.244.0.0/16"
    node_cidr_mask_size: int = 24
    # --leader-elect and --leader-elect-{lease-duration,renew-deadline,retry-period}: kube's 15s/10s/2s
    leader_elect: bool = True
    lease_duration: float = 15.0
    renew_deadline: float = 10.0
    retry_period: float = 2.0
    # --terminated-pod-gc-threshold (kube: 12500): terminated pods kept before the oldest are deleted
    terminated_pod_gc_threshold: int = 12500
    # how often pod GC runs and how long a missing node is quarantined (kube: 20s and 40s, not flags)
    pod_gc_period: float = 2.0
    pod_gc_quarantine: float = 5.0
    # --root-ca-file: the CA bundle published to every namespace as the kube-root-ca.crt ConfigMap
    root_ca: str = ""
    # --cluster-signing-cert-file and --cluster-signing-key-file: the CA the csrsigning controller signs
    # kubelet certificates with (kubeadm: ca.crt and ca.key); empty: nothing is signed
    cluster_signing_cert_file: str = ""
    cluster_signing_key_file: str = ""
    # --cluster-signing-duration (kube: 8760h, a year): the longest certificate it signs
    cluster_signing_duration: float = 365 * 24 * 3600.0
    # --resource-quota-sync-period (kube: 5m): how often every quota's usage is counted again
    resource_quota_sync_period: float = 300.0
    # --horizontal-pod-autoscaler-sync-period (kube: 15s): how often each HPA is reconciled (a lesson may
    # shorten it, and says so)
    horizontal_pod_autoscaler_sync_period: float = 15.0
    # --horizontal-pod-autoscaler-downscale-stabilization (kube: 5m): the window a scale-down looks back over
    horizontal_pod_autoscaler_downscale_stabilization: float = 300.0
    # --horizontal-pod-autoscaler-tolerance (kube: 0.1): usage within 10% of the target changes nothing
    horizontal_pod_autoscaler_tolerance: float = 0.1
    # --horizontal-pod-autoscaler-cpu-initialization-period (kube: 5m) and --...-initial-readiness-delay
    # (kube: 30s): when a new pod's CPU samples are not trusted
    horizontal_pod_autoscaler_cpu_initialization_period: float = 300.0
    horizontal_pod_autoscaler_initial_readiness_delay: float = 30.0
    # not a kube flag: how many times faster than real time the CronJob controller's clock runs
    # (labkit.clock.ScaledClock), so a lesson sees a "* * * * *" schedule fire every second at 60
    cronjob_clock_speed: float = 1.0
