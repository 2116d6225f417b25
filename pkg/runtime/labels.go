package runtime

// Labels podd puts on everything it creates in containerd, so that a restarted podd finds it again.
const (
	LabelPodUID       = "io.podd.pod.uid"
	LabelPodName      = "io.podd.pod.name"
	LabelPodNamespace = "io.podd.pod.namespace"
	LabelContainer    = "io.podd.container.name"
	LabelAttempt      = "io.podd.container.attempt"
)
