package ctl

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/containerd/errdefs"

	"github.com/podd-dev/podd/pkg/api"
	"github.com/podd-dev/podd/pkg/pod"
)

// The scatter/gather pattern as podctl sees it: the workloads whose pods run the root (the
// injected container podd-scatter-gather), and what each root reports of its leaves on its admin
// address (GET /leaves: every leaf seen recently, its shard, p50/p95/p99 of its last 200 answers,
// its counts by result, and the root's hedge delay). podd serves nothing of its own for them.

const fanoutContainer = "podd-scatter-gather"

// defaultFanoutAdmin is the root's --metrics-address unless its args say otherwise.
const defaultFanoutAdmin = ":9481"

// IsFanoutKind says whether a kind as typed names scatter/gather fan-outs.
func IsFanoutKind(name string) bool {
	switch strings.ToLower(name) {
	case "fanout", "fanouts", "scatter-gather", "sg":
		return true
	}
	return false
}

// FanoutOptions select a fan-out (or all) and how to show them.
type FanoutOptions struct {
	Namespace string
	Name      string
	Output    Format
	// Get fetches a root's /leaves (nil: HTTP with a 2 s timeout, from the host to the pod's IP).
	Get func(ctx context.Context, url string) ([]byte, error)
}

// Fanout is one workload of scatter/gather roots.
type Fanout struct {
	Namespace string       `json:"namespace"`
	Name      string       `json:"name"`
	Kind      string       `json:"kind"`
	Roots     []FanoutRoot `json:"roots"`
}

// FanoutRoot is one root pod and what it reports.
type FanoutRoot struct {
	Pod             string       `json:"pod"`
	Address         string       `json:"address,omitempty"`
	HedgeDelayMs    float64      `json:"hedgeDelayMs"`
	HedgeDelayKnown bool         `json:"hedgeDelayKnown"`
	Leaves          []FanoutLeaf `json:"leaves"`
	// Error says why the root could not be read (not running, no IP, not answering).
	Error string `json:"error,omitempty"`
}

// FanoutLeaf is one leaf as a root reports it (the root's GET /leaves).
type FanoutLeaf struct {
	Leaf    string         `json:"leaf"`
	Shard   string         `json:"shard"`
	P50Ms   float64        `json:"p50Ms"`
	P95Ms   float64        `json:"p95Ms"`
	P99Ms   float64        `json:"p99Ms"`
	Samples int            `json:"samples"`
	Results map[string]int `json:"results"`
	LastAt  time.Time      `json:"lastAt"`
}

// FanoutList is podctl get fanouts -o json.
type FanoutList struct {
	Items []Fanout `json:"items"`
}

// GetFanouts is podctl get fanouts [NAME].
func GetFanouts(ctx context.Context, c *api.Client, o FanoutOptions, s Streams) error {
	list, err := fanouts(ctx, c, o)
	if err != nil {
		return err
	}
	if len(list) == 0 && !o.Output.structured() {
		fmt.Fprintln(s.Err, "No resources found")
		return nil
	}
	return Print(s.Out, o.Output, FanoutList{Items: list}, func(bool) Table {
		t := Table{Header: []string{"NAME", "KIND", "ROOTS", "LEAVES", "P50", "P99", "HEDGE-DELAY"}}
		for _, f := range list {
			leaves, p50, p99, delay := map[string]bool{}, 0.0, 0.0, "-"
			for _, r := range f.Roots {
				for _, l := range r.Leaves {
					leaves[l.Leaf] = true
					p50, p99 = max(p50, l.P50Ms), max(p99, l.P99Ms)
				}
				if r.HedgeDelayKnown {
					delay = msString(r.HedgeDelayMs)
				}
			}
			t.Rows = append(t.Rows, []string{f.Name, f.Kind, strconv.Itoa(len(f.Roots)), strconv.Itoa(len(leaves)), msString(p50), msString(p99), delay})
		}
		return t
	})
}

// DescribeFanout is podctl describe fanout NAME: each root and its leaves' recent latency.
func DescribeFanout(ctx context.Context, c *api.Client, o FanoutOptions, s Streams) error {
	if o.Name == "" {
		return Usagef("describe fanout: a name is required")
	}
	list, err := fanouts(ctx, c, o)
	if err != nil {
		return err
	}
	if len(list) == 0 {
		return fmt.Errorf("no scatter/gather root named %q in namespace %q (no workload or pod of that name has the %s container): %w", o.Name, o.Namespace, fanoutContainer, errdefs.ErrNotFound)
	}
	f := list[0]
	if o.Output.structured() {
		return Print(s.Out, o.Output, f, nil)
	}
	tw := tabwriter.NewWriter(s.Out, 0, 8, 2, ' ', 0)
	fmt.Fprintf(tw, "Name:\t%s\n", f.Name)
	fmt.Fprintf(tw, "Namespace:\t%s\n", f.Namespace)
	fmt.Fprintf(tw, "Roots:\t%s %s, %d pod(s)\n", f.Kind, f.Name, len(f.Roots))
	for _, r := range f.Roots {
		fmt.Fprintln(tw)
		if r.Error != "" {
			fmt.Fprintf(tw, "Root %s:\t%s\n", r.Pod, r.Error)
			continue
		}
		delay := "not learned yet (fewer than 50 answers)"
		if r.HedgeDelayKnown {
			delay = msString(r.HedgeDelayMs) + " ms"
		}
		fmt.Fprintf(tw, "Root %s (%s), hedge delay %s\n", r.Pod, r.Address, delay)
		if len(r.Leaves) == 0 {
			fmt.Fprintln(tw, "  no leaf answered yet")
			continue
		}
		fmt.Fprintln(tw, "  LEAF\tSHARD\tP50 MS\tP95 MS\tP99 MS\tSAMPLES\tRESULTS\tLAST")
		for _, l := range r.Leaves {
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\n", l.Leaf, l.Shard, msString(l.P50Ms), msString(l.P95Ms), msString(l.P99Ms),
				l.Samples, results(l.Results), since(l.LastAt))
		}
	}
	return tw.Flush()
}

func msString(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) }

// results prints counts by result, in a stable order: answered=12 cancelled=1.
func results(m map[string]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + strconv.Itoa(m[k])
	}
	return strings.Join(parts, " ")
}

func since(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return time.Since(t).Round(time.Second).String() + " ago"
}

// fanouts reads the workloads (or the one named) whose pods run a scatter/gather root.
func fanouts(ctx context.Context, c *api.Client, o FanoutOptions) ([]Fanout, error) {
	refs, err := workloadsWith(ctx, c, o.Namespace, fanoutContainer)
	if err != nil {
		return nil, err
	}
	pods, err := c.ListPods(ctx, o.Namespace)
	if err != nil {
		return nil, err
	}
	get := o.Get
	if get == nil {
		get = httpGet
	}
	var out []Fanout
	for _, r := range refs {
		if o.Name != "" && r.name != o.Name {
			continue
		}
		f := Fanout{Namespace: r.namespace, Name: r.name, Kind: r.kind, Roots: []FanoutRoot{}}
		for _, p := range podsOf(r, pods) {
			f.Roots = append(f.Roots, readRoot(ctx, p, get))
		}
		out = append(out, f)
	}
	return out, nil
}

// podsOf are the pods of a workload that run the root: the pod itself, or those carrying all
// of the template's labels.
func podsOf(r workloadRef, pods []*pod.Pod) []*pod.Pod {
	var out []*pod.Pod
	for _, p := range pods {
		if p.Metadata.Namespace != r.namespace || containerNamed(&p.Spec, fanoutContainer) == nil {
			continue
		}
		if r.kind == "Pod" {
			if p.Metadata.Name == r.name {
				out = append(out, p)
			}
			continue
		}
		if len(r.labels) == 0 {
			continue
		}
		match := true
		for k, v := range r.labels {
			if p.Metadata.Labels[k] != v {
				match = false
			}
		}
		if match {
			out = append(out, p)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Metadata.Name < out[j].Metadata.Name })
	return out
}

// readRoot asks one root pod for its leaves.
func readRoot(ctx context.Context, p *pod.Pod, get func(context.Context, string) ([]byte, error)) FanoutRoot {
	r := FanoutRoot{Pod: p.Metadata.Name, Leaves: []FanoutLeaf{}}
	if p.Status.PodIP == "" {
		r.Error = fmt.Sprintf("no IP (phase %s)", p.Status.Phase)
		return r
	}
	port := adminPort(containerNamed(&p.Spec, fanoutContainer))
	r.Address = net.JoinHostPort(p.Status.PodIP, port)
	body, err := get(ctx, "http://"+r.Address+"/leaves")
	if err != nil {
		r.Error = err.Error()
		return r
	}
	var doc struct {
		HedgeDelayMs    float64      `json:"hedgeDelayMs"`
		HedgeDelayKnown bool         `json:"hedgeDelayKnown"`
		Leaves          []FanoutLeaf `json:"leaves"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		r.Error = "the root's /leaves: " + err.Error()
		return r
	}
	r.HedgeDelayMs, r.HedgeDelayKnown = doc.HedgeDelayMs, doc.HedgeDelayKnown
	if doc.Leaves != nil {
		r.Leaves = doc.Leaves
	}
	sort.Slice(r.Leaves, func(i, j int) bool {
		if r.Leaves[i].Shard != r.Leaves[j].Shard {
			return r.Leaves[i].Shard < r.Leaves[j].Shard
		}
		return r.Leaves[i].Leaf < r.Leaves[j].Leaf
	})
	return r
}

// adminPort is the port of the root's --metrics-address.
func adminPort(c *pod.Container) string {
	addr := defaultFanoutAdmin
	if c != nil {
		for i, a := range c.Args {
			if v, ok := strings.CutPrefix(a, "--metrics-address="); ok {
				addr = v
			} else if a == "--metrics-address" && i+1 < len(c.Args) {
				addr = c.Args[i+1]
			}
		}
	}
	_, port, err := net.SplitHostPort(addr)
	if err != nil || port == "" {
		_, port, _ = net.SplitHostPort(defaultFanoutAdmin)
	}
	return port
}

func httpGet(ctx context.Context, url string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: %s", url, resp.Status)
	}
	return body, nil
}
