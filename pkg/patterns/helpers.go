package patterns

import (
	"strings"

	"github.com/podd-dev/podd/pkg/pod"
)

// FlagKind is how a helper's flag takes its value, and so how an annotation's value is checked
// and written on the helper's command line.
type FlagKind string

// Flag kinds. A list is given comma-separated in the annotation and written once per item
// (urfave/cli's StringSliceFlag); the others are written once, as --name=value.
const (
	String   FlagKind = "string"
	Bool     FlagKind = "bool"
	Int      FlagKind = "int"
	Duration FlagKind = "duration"
	List     FlagKind = "list"
)

// Flag is one command-line flag of a helper that an annotation may set.
type Flag struct {
	Name string
	Kind FlagKind
	// Default is the helper's own default, when a port or probe depends on it; it is never
	// written on the command line (the helper has it already).
	Default string
}

// Port is a port a helper listens on, taken from the host:port value of one of its flags.
type Port struct {
	// Name is the containerPort's name (an IANA service name: at most 15 characters), unique
	// among the helpers and named after its helper, so that a Service's or a probe's named
	// port is never ambiguous (Kubernetes warns of a name two containers of a pod share).
	Name string
	// Flag holds the helper's host:port; an empty value means the helper does not listen.
	Flag string
}

// Probe is a helper's health endpoint: an HTTP GET on one of its ports.
type Probe struct {
	// Startup makes it a startupProbe, which holds the application's containers back until the
	// helper answers (native sidecars start in order); otherwise a readinessProbe.
	Startup bool
	Path    string
	// Port names one of the helper's Ports. The probe is written only when that port listens
	// on every interface: a kubelet probes the pod's IP, never its loopback.
	Port string
}

// Helper is one entry of the table: a subcommand of podd-patterns that a pod may ask for.
type Helper struct {
	Name  string
	Flags []Flag
	// ConfigFlag is the flag (a string flag of the helper's command) that takes the helper's
	// configuration file, set from the <helper>.podd.io/config setting; "" when the helper reads
	// none. When the flag is also one of Flags, the two settings exclude each other.
	ConfigFlag string
	// Required are the flags without which the helper refuses to start, each a list of
	// alternatives (ConfigFlag among them when a configuration file will do): a pod that would
	// only crash-loop its sidecar is refused at admission instead.
	Required [][]string
	Ports    []Port
	Probe    *Probe
	// CPU and Memory are the container's requests and limits unless the settings say otherwise.
	CPU, Memory string
	// CPULimit, when set, is the default CPU limit above a CPU request: for a helper whose work
	// grows with its pod's (the cpu setting still sets both).
	CPULimit string
	// APISocket: the helper talks to podd through the pod's own API socket, so the expansion
	// adds its container to the pod's podd.io/api-socket annotation (and takes it out again
	// when the helper is no longer injected).
	APISocket bool
	// AppSocket, when it returns true for the settings, adds the pod's regular containers to
	// podd.io/api-socket too: the work queue's runner asks podd for fresh copies of its container.
	AppSocket func(settings map[string]string) bool
	// Workers, when set, rewrites the pod's worker containers (the setting "workers" names them;
	// default all regular containers): the work queue puts its runner in front of their command.
	Workers func(settings map[string]string, spec *pod.PodSpec, specPath string) error
	// Variant names the variant of the helper image its settings need ("": the base image):
	// the elector and the work queue on the etcd backend need "etcd", localhost/podd/patterns-etcd, the only image
	// with the etcd client (5 MB of grpc and protobuf the other helpers do without).
	Variant func(settings map[string]string) string
	// Derive gives flags the expansion writes from the pod when the annotations leave them
	// unset: the elector on etcd is given its readiness gate's containers, the pod's regular
	// containers (podd knows them for the local backend; an etcd elector must be told).
	Derive func(settings map[string]string, spec *pod.PodSpec) map[string]string
}

// Helpers is the table of the helpers that podd.io/inject may name, in no particular order. The
// flags are those of each helper's cli.Command (cmd/podd-patterns checks that they exist there
// with the same kind).
var Helpers = []Helper{
	{
		Name: "ambassador",
		// pkg/helpers/ambassador/command.go.
		// Its --config is set by the reserved setting config (a ConfigMap's file), not directly.
		Flags: []Flag{
			{Name: "listen", Kind: String},
			{Name: "protocol", Kind: String},
			{Name: "server", Kind: List},
			{Name: "servers-file", Kind: String},
			{Name: "servers-dns", Kind: String},
			{Name: "dns-interval", Kind: Int},
			{Name: "hash", Kind: String},
			{Name: "distribution", Kind: String},
			{Name: "hash-tag", Kind: String},
			{Name: "timeout", Kind: Int},
			{Name: "auto-eject-hosts", Kind: Bool},
			{Name: "server-failure-limit", Kind: Int},
			{Name: "server-retry-timeout", Kind: Int},
			{Name: "metrics-address", Kind: String, Default: ":22222"},
			{Name: "procs", Kind: Int, Default: "1"},
		},
		ConfigFlag: "config",
		Required:   [][]string{{"listen", "config"}},
		Ports:      []Port{{Name: "amb-proxy", Flag: "listen"}, {Name: "amb-metrics", Flag: "metrics-address"}},
		Probe:      &Probe{Startup: true, Path: "/metrics", Port: "amb-metrics"},
		CPU:        "100m", Memory: "32Mi",
	},
	{
		Name: "log-saver",
		// /work/briefs/logsaver.md, as its branch h-logsaver spells the flags (pkg/helpers/logsaver).
		// --paths is one string of comma-separated globs, which the helper splits itself.
		Flags: []Flag{
			{Name: "paths", Kind: String},
			{Name: "to", Kind: String},
			{Name: "state-dir", Kind: String},
			{Name: "batch-lines", Kind: Int},
			{Name: "batch-bytes", Kind: Int},
			{Name: "batch-wait", Kind: Duration},
			{Name: "flush-timeout", Kind: Duration},
			{Name: "max-line-bytes", Kind: Int},
			{Name: "rotate-wait", Kind: Duration},
			{Name: "poll-interval", Kind: Duration},
			{Name: "send-timeout", Kind: Duration},
			{Name: "min-backoff", Kind: Duration},
			{Name: "max-backoff", Kind: Duration},
			{Name: "hostname", Kind: String},
			{Name: "app-name", Kind: String},
			{Name: "facility", Kind: String},
			{Name: "severity", Kind: String},
			{Name: "listen", Kind: String, Default: "127.0.0.1:9465"},
		},
		Required: [][]string{{"paths"}, {"to"}},
		Ports:    []Port{{Name: "logsaver-http", Flag: "listen"}},
		Probe:    &Probe{Startup: true, Path: "/healthz", Port: "logsaver-http"},
		CPU:      "50m", Memory: "32Mi",
	},
	{
		Name: "content-sync",
		// /work/briefs/contentsync.md, as its branch h-contentsync spells the flags
		// (pkg/helpers/contentsync). --max-bytes takes a size such as 256Mi.
		Flags: []Flag{
			{Name: "source", Kind: String},
			{Name: "source-kind", Kind: String},
			{Name: "file-name", Kind: String},
			{Name: "root", Kind: String},
			{Name: "link", Kind: String},
			{Name: "period", Kind: Duration},
			{Name: "http-timeout", Kind: Duration},
			{Name: "max-bytes", Kind: String},
			{Name: "max-entries", Kind: Int},
			{Name: "signal-process", Kind: String},
			{Name: "signal", Kind: String},
			{Name: "webhook", Kind: String},
			{Name: "webhook-timeout", Kind: Duration},
			{Name: "webhook-retries", Kind: Int},
			{Name: "one-time", Kind: Bool},
			{Name: "listen", Kind: String, Default: "127.0.0.1:9467"},
			{Name: "health-periods", Kind: Int},
		},
		Required: [][]string{{"source"}},
		Ports:    []Port{{Name: "csync-http", Flag: "listen"}},
		// A readiness probe, not a startup one: its /healthz fails until a first sync, and a
		// source that is down must not keep the application from starting.
		Probe: &Probe{Path: "/healthz", Port: "csync-http"},
		CPU:   "50m", Memory: "32Mi",
	},
	{
		Name: "adapter",
		// /work/briefs/adapter.md, as its branch h-adapter spells the flags (pkg/helpers/adapter).
		Flags: []Flag{
			{Name: "source", Kind: List},
			{Name: "listen", Kind: String, Default: ":9466"},
			{Name: "scrape-timeout", Kind: Duration},
			{Name: "probe-interval", Kind: Duration},
			{Name: "rules", Kind: String},
			{Name: "redis-password-file", Kind: String},
			{Name: "statsd-max-series", Kind: Int},
		},
		ConfigFlag: "rules",
		Required:   [][]string{{"source"}},
		Ports:      []Port{{Name: "adapter-metrics", Flag: "listen"}},
		// /healthz is the adapter's own health: /readyz follows the application, which starts
		// only after the sidecar has.
		Probe: &Probe{Startup: true, Path: "/healthz", Port: "adapter-metrics"},
		CPU:   "50m", Memory: "32Mi",
	},
	{
		Name: "elector",
		Flags: []Flag{
			{Name: "election", Kind: List},
			{Name: "backend", Kind: String, Default: "local"},
			{Name: "socket", Kind: String},
			{Name: "listen", Kind: String, Default: "127.0.0.1:4040"},
			{Name: "ttl", Kind: Duration},
			{Name: "margin", Kind: Duration},
			{Name: "mode", Kind: String},
			{Name: "app-container", Kind: List},
			{Name: "signal", Kind: String},
			{Name: "signal-process", Kind: String},
			// The etcd backend (--backend etcd): the TLS files come from the pod's volumes
			// (elector.podd.io/volumes).
			{Name: "etcd-endpoints", Kind: String},
			{Name: "etcd-ca-file", Kind: String},
			{Name: "etcd-cert-file", Kind: String},
			{Name: "etcd-key-file", Kind: String},
			{Name: "etcd-prefix", Kind: String},
			{Name: "name", Kind: String},
		},
		Required:  [][]string{{"election"}},
		Ports:     []Port{{Name: "elector-http", Flag: "listen"}},
		APISocket: true,
		Variant: func(settings map[string]string) string {
			if settings["backend"] == "etcd" {
				return "etcd"
			}
			return ""
		},
		Derive: func(settings map[string]string, spec *pod.PodSpec) map[string]string {
			if settings["backend"] != "etcd" || settings["mode"] == "manual" {
				return nil
			}
			var names []string
			for _, c := range spec.Containers {
				names = append(names, c.Name)
			}
			return map[string]string{"app-container": strings.Join(names, ",")}
		},
		CPU: "50m", Memory: "32Mi",
	},
	{
		Name: "scatter-gather",
		// pkg/helpers/scatter/command.go: the root of a scatter/gather; the pod's own container
		// is the merge (--merge on localhost).
		Flags: []Flag{
			{Name: "listen", Kind: String, Default: ":9480"},
			{Name: "metrics-address", Kind: String, Default: ":9481"},
			{Name: "mode", Kind: String},
			{Name: "leaves", Kind: List},
			{Name: "merge", Kind: String},
			{Name: "deadline", Kind: Duration},
			{Name: "leaf-timeout", Kind: Duration},
			{Name: "merge-timeout", Kind: Duration},
			{Name: "min-responses", Kind: String},
			{Name: "stop-at-min", Kind: Bool},
			{Name: "hedge", Kind: Bool},
			{Name: "hedge-delay", Kind: Duration},
			{Name: "hedge-percentile", Kind: Int},
			{Name: "hedge-min-delay", Kind: Duration},
			{Name: "hedge-budget", Kind: Int},
			{Name: "hedge-window", Kind: Int},
			{Name: "resolve-ttl", Kind: Duration},
			{Name: "max-body-bytes", Kind: Int},
		},
		Required: [][]string{{"leaves"}},
		Ports:    []Port{{Name: "sg-root", Flag: "listen"}, {Name: "sg-metrics", Flag: "metrics-address"}},
		Probe:    &Probe{Startup: true, Path: "/healthz", Port: "sg-metrics"},
		CPU:      "100m", Memory: "32Mi",
	},
	{
		Name: "workqueue",
		// pkg/helpers/workqueue/command.go. The spool (a hostPath or PVC) and the work folder (an
		// emptyDir the worker container mounts too) come from the pod's volumes
		// (workqueue.podd.io/volumes); the worker runs its command under
		// /podd-wq/podd-patterns wq-run --, which the helper installs before it is ready.
		Flags: []Flag{
			{Name: "backend", Kind: String, Default: "spool"},
			{Name: "spool", Kind: String},
			// The etcd backend (--backend etcd): a queue shared by workers on several hosts.
			// The TLS files come from the pod's volumes (workqueue.podd.io/volumes).
			{Name: "etcd-endpoints", Kind: String},
			{Name: "etcd-ca-file", Kind: String},
			{Name: "etcd-cert-file", Kind: String},
			{Name: "etcd-key-file", Kind: String},
			{Name: "queue", Kind: String},
			{Name: "lease-ttl", Kind: Duration},
			{Name: "work-dir", Kind: String},
			{Name: "source-dir", Kind: List},
			{Name: "source-lines", Kind: List},
			{Name: "source-url", Kind: List},
			{Name: "max-attempts", Kind: Int},
			{Name: "backoff", Kind: Duration},
			{Name: "max-backoff", Kind: Duration},
			{Name: "poison-exit-code", Kind: Int},
			{Name: "until", Kind: String},
			{Name: "poll", Kind: Duration},
			{Name: "listen", Kind: String, Default: ":9468"},
			{Name: "socket", Kind: String},
			{Name: "run", Kind: String, Default: "fresh"},
		},
		// The spool, or etcd's endpoints (the helper checks which goes with --backend).
		Required: [][]string{{"spool", "etcd-endpoints"}},
		Ports:    []Port{{Name: "wq-http", Flag: "listen"}},
		Variant: func(settings map[string]string) string {
			if settings["backend"] == "etcd" {
				return "etcd"
			}
			return ""
		},
		// The worker container starts once the runner is installed and the helper listens.
		Probe: &Probe{Startup: true, Path: "/healthz", Port: "wq-http"},
		// It reads the worker container's exit and OOM kills from podd.
		APISocket: true,
		// The runner asks podd for a fresh copy of its container per item (POST /run).
		AppSocket: func(settings map[string]string) bool { return settings["run"] != "long-lived" },
		Workers:   wrapWorkers,
		// The helper does the queue's work for each item (claim, copy in, commit with its
		// fsyncs): 2-3 ms of CPU each, so its pace is its CPU limit's. At 100m the quota held a
		// worker to 18-35 items a second, at 500m it still stalled the helper for ~50 ms about
		// ten times a second; at one core it keeps up with its worker (about 200 a second
		// here). The request stays small: the helper idles between queues.
		CPU: "100m", CPULimit: "1", Memory: "64Mi",
	},
}

// VariantImage is the reference of an image variant: localhost/podd/patterns:V with the variant
// etcd is localhost/podd/patterns-etcd:V (the variant joins the repository's last part).
func VariantImage(image, variant string) string {
	if variant == "" {
		return image
	}
	repo, rest := image, ""
	if i := strings.Index(image, "@"); i >= 0 {
		repo, rest = image[:i], image[i:]
	}
	if i := strings.LastIndex(repo, ":"); i > strings.LastIndex(repo, "/") {
		repo, rest = repo[:i], repo[i:]+rest
	}
	return repo + "-" + variant + rest
}

// Lookup finds a helper of the table by name.
func Lookup(name string) (*Helper, bool) {
	for i := range Helpers {
		if Helpers[i].Name == name {
			return &Helpers[i], true
		}
	}
	return nil, false
}

// Flag finds one of the helper's flags by name.
func (h *Helper) Flag(name string) (*Flag, bool) {
	for i := range h.Flags {
		if h.Flags[i].Name == name {
			return &h.Flags[i], true
		}
	}
	return nil, false
}

// names lists the helpers of the table, in its order.
func names() []string {
	out := make([]string, len(Helpers))
	for i, h := range Helpers {
		out[i] = h.Name
	}
	return out
}
