package ctl

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/podd-dev/podd/pkg/api"
	"github.com/podd-dev/podd/pkg/pod"
)

// StatsOptions are podctl stats'.
type StatsOptions struct {
	Namespace     string
	AllNamespaces bool
	// Name is the pod to show; "" shows every pod of the namespace.
	Name string
	// Watch prints the figures again every Interval until ctx ends.
	Watch    bool
	Interval time.Duration
	Output   Format
}

// DefaultStatsInterval is the pause between two prints of stats --watch.
const DefaultStatsInterval = 2 * time.Second

// Stats prints the figures of a pod or of every pod: one row per pod (its cgroup and network)
// and one per running container. -o json prints the kubelet's stats summary shape: the PodStats
// of one pod, or {"items": [...]}.
func Stats(ctx context.Context, c *api.Client, o StatsOptions, s Streams) error {
	if o.Name != "" && o.AllNamespaces {
		return Usagef("stats: the stats of a pod cannot be shown across all namespaces: drop --all-namespaces or POD")
	}
	if o.Interval <= 0 {
		o.Interval = DefaultStatsInterval
	}
	ns := o.Namespace
	if o.AllNamespaces {
		ns = ""
	}
	for first := true; ; first = false {
		var (
			obj  any
			list []*pod.PodStats
		)
		if o.Name != "" {
			st, err := c.PodStats(ctx, ns, o.Name)
			if err != nil {
				return err
			}
			obj, list = st, []*pod.PodStats{st}
		} else {
			all, err := c.ListStats(ctx, ns)
			if err != nil {
				return err
			}
			obj, list = api.StatsList{Items: all}, all
		}
		var err error
		switch {
		case o.Watch && o.Output == FormatJSON:
			// One object a line while watching, for jq and friends.
			err = json.NewEncoder(s.Out).Encode(obj)
		default:
			if !first && !o.Output.structured() {
				fmt.Fprintln(s.Out)
			} else if !first && o.Output == FormatYAML {
				fmt.Fprintln(s.Out, "---")
			}
			switch {
			case len(list) == 0 && !o.Output.structured() && o.AllNamespaces:
				fmt.Fprintln(s.Err, "No resources found")
			case len(list) == 0 && !o.Output.structured():
				fmt.Fprintf(s.Err, "No resources found in %s namespace.\n", o.Namespace)
			default:
				err = Print(s.Out, o.Output, obj, statsTable(list, o.AllNamespaces))
			}
		}
		if err != nil || !o.Watch {
			return err
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(o.Interval):
		}
	}
}

// statsTable: POD CONTAINER CPU MEMORY (working set) PIDS, the limits, and the pod's network;
// wide adds memory usage and rss. The pod's own row, CONTAINER "(pod)", is the pod cgroup's.
func statsTable(list []*pod.PodStats, withNamespace bool) func(wide bool) Table {
	return func(wide bool) Table {
		var t Table
		if withNamespace {
			t.Header = append(t.Header, "NAMESPACE")
		}
		t.Header = append(t.Header, "POD", "CONTAINER", "CPU(cores)", "CPU LIMIT", "MEMORY(working set)", "MEMORY LIMIT", "PIDS", "NET RX", "NET TX")
		if wide {
			t.Header = append(t.Header, "MEMORY USAGE", "RSS", "OOM KILLS")
		}
		row := func(st *pod.PodStats, name string, cpu *pod.CPUStats, mem *pod.MemoryStats, proc *pod.ProcessStats, net *pod.NetworkStats) []string {
			var r []string
			if withNamespace {
				r = append(r, st.PodRef.Namespace)
			}
			rx, tx := "-", "-"
			if net != nil {
				rx, tx = bytesOrDash(net.RxBytes), bytesOrDash(net.TxBytes)
			}
			cpuNow, cpuLimit := "-", "-"
			if cpu != nil {
				cpuNow = milliOrDash(cpu.UsageNanoCores)
				cpuLimit = milliOrDash(cpu.LimitNanoCores)
			}
			ws, limit, usage, rss, ooms := "-", "-", "-", "-", "-"
			if mem != nil {
				ws, limit, usage, rss = bytesOrDash(mem.WorkingSetBytes), bytesOrDash(mem.LimitBytes), bytesOrDash(mem.UsageBytes), bytesOrDash(mem.RSSBytes)
				ooms = countOrDash(mem.OOMKills)
			}
			pids := "-"
			if proc != nil {
				pids = countOrDash(proc.ProcessCount)
				if proc.ProcessLimit != nil {
					pids += "/" + strconv.FormatUint(*proc.ProcessLimit, 10)
				}
			}
			r = append(r, st.PodRef.Name, name, cpuNow, cpuLimit, ws, limit, pids, rx, tx)
			if wide {
				r = append(r, usage, rss, ooms)
			}
			return r
		}
		for _, st := range list {
			t.Rows = append(t.Rows, row(st, "(pod)", st.CPU, st.Memory, st.Process, st.Network))
			for _, c := range st.Containers {
				t.Rows = append(t.Rows, row(st, c.Name, c.CPU, c.Memory, c.Process, nil))
			}
		}
		return t
	}
}

func milliOrDash(nano *uint64) string {
	if nano == nil {
		return "-"
	}
	return strconv.FormatUint((*nano+500_000)/1_000_000, 10) + "m"
}

func countOrDash(n *uint64) string {
	if n == nil {
		return "-"
	}
	return strconv.FormatUint(*n, 10)
}

// bytesOrDash prints a size in binary units, as Kubernetes quantities are written: 512, 3.5Ki, 40.0Mi.
func bytesOrDash(n *uint64) string {
	if n == nil {
		return "-"
	}
	return humanBytes(*n)
}

func humanBytes(n uint64) string {
	const unit = 1024
	if n < unit {
		return strconv.FormatUint(n, 10)
	}
	v := float64(n)
	for _, suffix := range []string{"Ki", "Mi", "Gi", "Ti", "Pi"} {
		v /= unit
		if v < unit || suffix == "Pi" {
			return strconv.FormatFloat(v, 'f', 1, 64) + suffix
		}
	}
	return strconv.FormatUint(n, 10)
}
