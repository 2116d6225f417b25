package supervisor

import (
	"context"
	"strings"
	"testing"

	"github.com/containerd/errdefs"
)

func TestCreateRefusesTakenHostPort(t *testing.T) {
	rt, st := newFakeRuntime(), newMemStore()
	m := startManager(t, rt, st)
	if _, err := create(context.Background(), m, []byte(strings.Replace(hostPortPod, "NAME", "first", 1))); err != nil {
		t.Fatal(err)
	}
	for _, manifest := range []string{
		strings.Replace(hostPortPod, "NAME", "second", 1),
		// Two new pods that want the same port: the second is refused, and so both are.
		strings.Replace(hostPortPod, "NAME", "third", 1) + "---\n" + strings.Replace(strings.Replace(hostPortPod, "NAME", "fourth", 1), "hostPort: 8080", "hostPort: 9090", 1) +
			"---\n" + strings.Replace(strings.Replace(hostPortPod, "NAME", "fifth", 1), "hostPort: 8080", "hostPort: 9090", 1),
	} {
		_, err := create(context.Background(), m, []byte(manifest))
		if !errdefs.IsAlreadyExists(err) || !strings.Contains(err.Error(), "spec.containers[1].ports[0].hostPort: port 8080/TCP on 0.0.0.0 is already in use by pod default/first") {
			t.Errorf("err = %v, want already exists naming spec.containers[1].ports[0].hostPort", err)
		}
	}
	if n := st.count(); n != 1 {
		t.Errorf("store has %d records, want 1", n)
	}
}

const hostPortPod = `apiVersion: v1
kind: Pod
metadata: {name: NAME}
spec:
  containers:
  - {name: a, image: "busybox:1"}
  - name: b
    image: "busybox:1"
    ports:
    - {containerPort: 80, hostPort: 8080}
`
