package ctl

import (
	"context"
	"strconv"

	"github.com/podd-dev/podd/pkg/api"
	"github.com/podd-dev/podd/pkg/pod"
)

// TopOptions are podctl top's.
type TopOptions struct {
	Namespace string
	Name      string
	Output    Format
}

// Top prints the processes of each running container of a pod: CONTAINER PID USER TIME COMMAND,
// the PID as the host sees it (as docker top and crictl do).
func Top(ctx context.Context, c *api.Client, o TopOptions, s Streams) error {
	if o.Name == "" {
		return Usagef("top: want a POD argument")
	}
	procs, err := c.Top(ctx, o.Namespace, o.Name)
	if err != nil {
		return err
	}
	return Print(s.Out, o.Output, api.TopResponse{Containers: procs}, func(bool) Table {
		t := Table{Header: []string{"CONTAINER", "PID", "USER", "TIME", "COMMAND"}}
		for _, c := range procs {
			for _, p := range c.Processes {
				t.Rows = append(t.Rows, []string{c.Name, strconv.Itoa(p.PID), p.User, cpuTime(p), p.Command})
			}
		}
		return t
	})
}

// cpuTime is ps's TIME: [DD-]HH:MM:SS of cpu.
func cpuTime(p pod.ProcessInfo) string {
	s := int64(p.CPUSeconds)
	d, h, m := s/86400, s/3600%24, s/60%60
	out := ""
	if d > 0 {
		out = strconv.FormatInt(d, 10) + "-"
	}
	return out + two(h) + ":" + two(m) + ":" + two(s%60)
}

func two(n int64) string {
	if n < 10 {
		return "0" + strconv.FormatInt(n, 10)
	}
	return strconv.FormatInt(n, 10)
}
