package patterns

import (
	"fmt"
	"path"
	"slices"
	"strings"

	"github.com/podd-dev/podd/pkg/pod"
)

// The work queue's runner, as the injection puts it in front of a worker container's command:
// the helper installs podd-patterns in its --work-dir, a volume the worker mounts too.
const (
	workQueueWorkDir = "/podd-wq"
	workQueueRunner  = "podd-patterns"
)

// wrapWorkers puts the work queue's runner in front of the commands of the pod's regular
// containers (those named by the workers setting, or all), so that a worker is the user's own
// container and command, nothing else: command [sh, -c, X] becomes [/podd-wq/podd-patterns,
// wq-run, --, sh, -c, X]. A container that already runs under the runner is left alone, so that
// the expansion stays idempotent and the runner may still be written by hand. The worker mounts
// the work folder's volume (from the helper's volumes setting) where the helper has it. specPath
// is the pod spec's field path, for errors.
func wrapWorkers(settings map[string]string, spec *pod.PodSpec, specPath string) error {
	workDir := workQueueWorkDir
	if v := settings["work-dir"]; v != "" {
		workDir = v
	}
	runner := path.Join(workDir, workQueueRunner)
	volume := ""
	for _, item := range strings.Split(settings[keyVolumes], ",") {
		parts := strings.Split(strings.TrimSpace(item), ":")
		if len(parts) >= 2 && parts[1] == workDir {
			volume = parts[0]
		}
	}
	var names []string
	if v := strings.TrimSpace(settings["workers"]); v != "" {
		for _, n := range strings.Split(v, ",") {
			names = append(names, strings.TrimSpace(n))
		}
		for _, n := range names {
			if !slices.ContainsFunc(spec.Containers, func(c pod.Container) bool { return c.Name == n }) {
				return &pod.FieldError{Field: specPath + ".containers", Detail: fmt.Sprintf("the work queue's worker %q is not a container of the pod (workqueue.podd.io/workers)", n)}
			}
		}
	}
	for i := range spec.Containers {
		c := &spec.Containers[i]
		if names != nil && !slices.Contains(names, c.Name) {
			continue
		}
		field := fmt.Sprintf("%s.containers[%d]", specPath, i)
		if len(c.Command) > 0 && c.Command[0] == runner {
			continue
		}
		if len(c.Command) == 0 {
			return &pod.FieldError{Field: field + ".command", Detail: fmt.Sprintf(
				"the work queue runs the worker's command under its runner, so the command must be written out (the image's entrypoint is not known when the pod is expanded), or start it with %s wq-run -- yourself; name the workers in workqueue.podd.io/workers when %q is not one", runner, c.Name)}
		}
		c.Command = append([]string{runner, "wq-run", "--"}, append(c.Command, c.Args...)...)
		c.Args = nil
		if volume == "" {
			return &pod.FieldError{Field: field, Detail: fmt.Sprintf("the worker needs the work folder %s: mount a volume there in workqueue.podd.io/volumes (e.g. work:%s, an emptyDir)", workDir, workDir)}
		}
		if !slices.ContainsFunc(c.VolumeMounts, func(m pod.VolumeMount) bool { return m.MountPath == workDir }) {
			c.VolumeMounts = append(c.VolumeMounts, pod.VolumeMount{Name: volume, MountPath: workDir})
		}
	}
	return nil
}
