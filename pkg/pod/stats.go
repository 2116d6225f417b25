package pod

import (
	"time"
)

// Stats use the kubelet's stats summary field names (k8s.io/kubelet/pkg/apis/stats/v1alpha1), so
// that tools written for `kubectl get --raw /api/v1/nodes/N/proxy/stats/summary` read them too;
// fields the summary lacks are marked as podd's own.

// PodStats are one pod's figures.
type PodStats struct {
	PodRef     PodReference     `json:"podRef"`
	StartTime  *time.Time       `json:"startTime,omitempty"`
	QOSClass   QOSClass         `json:"qosClass,omitempty"` // podd's own
	CPU        *CPUStats        `json:"cpu,omitempty"`      // the pod cgroup
	Memory     *MemoryStats     `json:"memory,omitempty"`   // the pod cgroup
	Network    *NetworkStats    `json:"network,omitempty"`  // the pod's network namespace; none with hostNetwork
	Process    *ProcessStats    `json:"process_stats,omitempty"`
	Containers []ContainerStats `json:"containers"`
}

// PodReference names a pod.
type PodReference struct {
	Name      string `json:"name"`
	Namespace string `json:"namespace"`
	UID       string `json:"uid"`
}

// ContainerStats are one running container's figures.
type ContainerStats struct {
	Name      string        `json:"name"`
	StartTime *time.Time    `json:"startTime,omitempty"`
	CPU       *CPUStats     `json:"cpu,omitempty"`
	Memory    *MemoryStats  `json:"memory,omitempty"`
	Process   *ProcessStats `json:"process_stats,omitempty"`
}

// CPUStats: usageNanoCores is the rate over the window since the previous sample.
type CPUStats struct {
	Time                 time.Time `json:"time"`
	UsageNanoCores       *uint64   `json:"usageNanoCores,omitempty"`
	UsageCoreNanoSeconds *uint64   `json:"usageCoreNanoSeconds,omitempty"`
	// LimitNanoCores is the cpu limit (CFS quota / period), podd's own; absent without a limit.
	LimitNanoCores *uint64 `json:"limitNanoCores,omitempty"`
}

// MemoryStats: workingSetBytes is usage less inactive file cache, as the kubelet computes it.
type MemoryStats struct {
	Time            time.Time `json:"time"`
	AvailableBytes  *uint64   `json:"availableBytes,omitempty"`
	UsageBytes      *uint64   `json:"usageBytes,omitempty"`
	WorkingSetBytes *uint64   `json:"workingSetBytes,omitempty"`
	RSSBytes        *uint64   `json:"rssBytes,omitempty"`
	// LimitBytes and OOMKills are podd's own: the memory limit (absent without one) and the
	// kernel's OOM kill counter of the cgroup.
	LimitBytes *uint64 `json:"limitBytes,omitempty"`
	OOMKills   *uint64 `json:"oomKills,omitempty"`
}

// ProcessStats count tasks; processLimit (podd's own) is the pids limit, absent without one.
type ProcessStats struct {
	ProcessCount *uint64 `json:"process_count,omitempty"`
	ProcessLimit *uint64 `json:"processLimit,omitempty"`
}

// NetworkStats are the pod's interfaces; the top-level figures are the sum over all but lo.
type NetworkStats struct {
	Time       time.Time        `json:"time"`
	RxBytes    *uint64          `json:"rxBytes,omitempty"`
	TxBytes    *uint64          `json:"txBytes,omitempty"`
	Interfaces []InterfaceStats `json:"interfaces,omitempty"`
}

// InterfaceStats are one interface's counters.
type InterfaceStats struct {
	Name     string  `json:"name"`
	RxBytes  *uint64 `json:"rxBytes,omitempty"`
	RxErrors *uint64 `json:"rxErrors,omitempty"`
	TxBytes  *uint64 `json:"txBytes,omitempty"`
	TxErrors *uint64 `json:"txErrors,omitempty"`
}

// ContainerProcesses lists the processes of one running container (podctl top).
type ContainerProcesses struct {
	Name      string        `json:"name"`
	Processes []ProcessInfo `json:"processes"`
}

// ProcessInfo is one process of a container, as the host sees it.
type ProcessInfo struct {
	PID int `json:"pid"`
	// User is the name of the process's uid in the container's /etc/passwd, or the number.
	User string `json:"user"`
	// CPUSeconds is the user and system cpu time it used.
	CPUSeconds float64 `json:"cpuSeconds"`
	Command    string  `json:"command"`
}
