package cgroups

// Resource conversion from Kubernetes quantities to cgroup values, as the kubelet and runc do it,
// so that a pod gets the same cpu time and memory under podd as under the kubelet.

const (
	// CPUPeriod is the CFS period a cpu limit is spread over: 100 ms, the kubelet's default.
	CPUPeriod uint64 = 100000 // µs
	// MinShares and MaxShares bound cpu.shares (v1); the kernel refuses values outside them.
	MinShares uint64 = 2
	MaxShares uint64 = 262144
	// SharesPerCPU is the share of one full cpu.
	SharesPerCPU uint64 = 1024
	// minQuota is the kernel's smallest CFS quota: 1 ms.
	minQuota int64 = 1000
	// MaxQuota is the kernel's largest CFS quota (max_cfs_runtime: 2^44-1 µs, some 203 days
	// per period): a larger cpu limit saturates there, which is no limit in practice.
	MaxQuota int64 = 1<<44 - 1
	// DefaultPodPidsLimit is podd's default pids limit per pod: room for busy multi-process
	// workloads, and a fork bomb stops long before the host's pid_max (4 million on 64 bit).
	DefaultPodPidsLimit int64 = 4096
)

// MilliCPUToShares is the kubelet's: a cpu request in millicores as cpu.shares, at least
// MinShares (also for no request: a BestEffort container gets the least).
func MilliCPUToShares(milliCPU int64) uint64 {
	if milliCPU <= 0 {
		return MinShares
	}
	shares := uint64(milliCPU) * SharesPerCPU / 1000
	return min(max(shares, MinShares), MaxShares)
}

// MilliCPUToQuota is the kubelet's: a cpu limit in millicores as a CFS quota in µs per period;
// 0 for no limit (the caller writes "max" or -1), at least the kernel's 1 ms and at most its
// MaxQuota. The product is never formed when it would overflow: a limit of 1e18 cpus once
// wrapped around to the 1 ms minimum, a cap of 10m.
func MilliCPUToQuota(milliCPU int64, period uint64) int64 {
	if milliCPU <= 0 {
		return 0
	}
	if period == 0 || uint64(milliCPU) > uint64(MaxQuota)*1000/period {
		return MaxQuota
	}
	quota := milliCPU * int64(period) / 1000
	return min(max(quota, minQuota), MaxQuota)
}

// SharesToWeight maps cpu.shares [2, 262144] onto cgroup v2's cpu.weight [1, 10000] linearly,
// as runc (ConvertCPUSharesToCgroupV2Value) and the kubelet do on v2; 0 stays 0 (unset).
func SharesToWeight(shares uint64) uint64 {
	if shares == 0 {
		return 0
	}
	shares = min(max(shares, MinShares), MaxShares)
	return 1 + ((shares-2)*9999)/262142
}
