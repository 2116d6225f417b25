package integration

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/containerd/containerd/snapshots"

	"github.com/podd-dev/podd/internal/privcontainerd"
	"github.com/podd-dev/podd/pkg/cgroups"
)

// ownedKind is one kind of thing a podd creates on the host for its pods. The crash-safety tests
// compare what a podd owns with what its pods account for; a new kind of resource (CNI
// interfaces, say) is one more entry in ownedKinds.
type ownedKind struct {
	name string
	// list returns what of this kind the podd owns, each entry naming the pod UID it belongs
	// to when it can be told (the key) — "" when it cannot. uids are the pods the test saw.
	list func(t testing.TB, p *Podd, uids map[string]bool) map[string]string
}

var ownedKinds = []ownedKind{
	{"container", func(t testing.TB, p *Podd, _ map[string]bool) map[string]string {
		out := map[string]string{}
		for _, c := range p.Containers(t) {
			out[c.ID] = c.Labels[labelPodUID]
		}
		return out
	}},
	{"container snapshot", func(t testing.TB, p *Podd, _ map[string]bool) map[string]string {
		// Image layers are committed snapshots; a container's rootfs is an active one, named
		// as the container: one without its container belongs to no pod.
		byID := map[string]string{}
		for _, c := range p.Containers(t) {
			byID[c.ID] = c.Labels[labelPodUID]
		}
		out := map[string]string{}
		for _, s := range p.Snapshots(t) {
			if s.Kind == snapshots.KindActive {
				out[s.Name] = byID[s.Name]
			}
		}
		return out
	}},
	{"namespace file", func(t testing.TB, p *Podd, _ map[string]bool) map[string]string {
		out := map[string]string{}
		for _, dir := range []string{"netns", "ipcns", "utsns"} {
			for _, uid := range listDir(t, filepath.Join(p.State, dir)) {
				out[filepath.Join(dir, uid)] = uid
			}
		}
		return out
	}},
	{"mount", func(t testing.TB, p *Podd, _ map[string]bool) map[string]string {
		out := map[string]string{}
		for _, dir := range []string{p.State, p.Root} {
			mounts, err := privcontainerd.MountsUnder(dir)
			if err != nil {
				t.Fatalf("read mountinfo: %v", err)
			}
			for _, m := range mounts {
				out[m] = uidIn(m)
			}
		}
		return out
	}},
	{"pod folder", func(t testing.TB, p *Podd, _ map[string]bool) map[string]string {
		out := map[string]string{}
		for _, uid := range listDir(t, filepath.Join(p.Root, "pods")) {
			out[uid] = uid
		}
		return out
	}},
	{"log folder", func(t testing.TB, p *Podd, _ map[string]bool) map[string]string {
		out := map[string]string{}
		for _, name := range listDir(t, filepath.Join(p.Root, "logs")) {
			out[name] = name[strings.LastIndex(name, "_")+1:]
		}
		return out
	}},
	{"pod state folder", func(t testing.TB, p *Podd, _ map[string]bool) map[string]string {
		// Per-pod runtime files under --state (the pod's API socket).
		out := map[string]string{}
		for _, uid := range listDir(t, filepath.Join(p.State, "pods")) {
			out["pods/"+uid] = uid
		}
		return out
	}},
	{"CNI attachment", func(t testing.TB, p *Podd, _ map[string]bool) map[string]string {
		out := map[string]string{}
		for _, name := range listDir(t, filepath.Join(p.State, "cni", "pods")) {
			out[name] = strings.TrimSuffix(name, ".json")
		}
		return out
	}},
	{"CNI address", func(t testing.TB, p *Podd, _ map[string]bool) map[string]string {
		// host-local's allocations: one file per address, named by it, holding the container
		// ID it was given to (podd gives the pod UID).
		out := map[string]string{}
		root := filepath.Join(p.State, "cni", "ipam")
		for _, network := range listDir(t, root) {
			for _, name := range listDir(t, filepath.Join(root, network)) {
				if strings.HasPrefix(name, "last_reserved_ip") || name == "lock" {
					continue
				}
				data, _ := os.ReadFile(filepath.Join(root, network, name))
				owner, _, _ := strings.Cut(string(data), "\n")
				out[filepath.Join(network, name)] = strings.TrimSpace(owner)
			}
		}
		return out
	}},
	{"pod cgroup", func(t testing.TB, p *Podd, _ map[string]bool) map[string]string {
		// Each test podd has a cgroup root of its own (--cgroup-root).
		fs, err := cgroups.Load(cgroups.MountinfoPath)
		if err != nil {
			t.Fatalf("find cgroup hierarchies: %v", err)
		}
		uids, err := cgroups.ListPods(fs, p.CgroupRoot)
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]string{}
		for _, uid := range uids {
			out[cgroups.PodPath(p.CgroupRoot, uid)] = uid
		}
		return out
	}},
}

// uidIn finds a pod UID (a v4 UUID) among a path's elements; "" when there is none.
func uidIn(path string) string {
	for _, part := range strings.Split(path, "/") {
		if len(part) == 36 && strings.Count(part, "-") == 4 {
			return part
		}
	}
	return ""
}

// owned is everything the podd owns on the host, by kind.
func (p *Podd) owned(t testing.TB, uids map[string]bool) map[string]map[string]string {
	t.Helper()
	out := map[string]map[string]string{}
	for _, k := range ownedKinds {
		out[k.name] = k.list(t, p, uids)
	}
	return out
}

// seenUIDs adds to uids every pod UID that the podd's containers, folders and namespace files
// name: called while podd is down after a crash, it finds the pods podd was working on.
func (p *Podd) seenUIDs(t testing.TB, uids map[string]bool) {
	t.Helper()
	for _, k := range ownedKinds {
		for _, uid := range k.list(t, p, uids) {
			if uid != "" {
				uids[uid] = true
			}
		}
	}
}

// leaks describes what the podd owns beyond the pods in keep (UIDs), one line per thing.
func leaks(owned map[string]map[string]string, keep map[string]bool) []string {
	var out []string
	for kind, items := range owned {
		for item, uid := range items {
			if uid != "" && keep[uid] {
				continue
			}
			out = append(out, fmt.Sprintf("%s %s (pod %q)", kind, item, uid))
		}
	}
	sort.Strings(out)
	return out
}

// waitNoLeaks waits until the podd owns nothing beyond the pods in keep (orphans are removed in
// the background after a restart), and fails the test with the list of leftovers otherwise.
func (p *Podd) waitNoLeaks(t testing.TB, uids, keep map[string]bool, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		kept := keep
		if size := p.warmSize(); size > 0 {
			// The pool's warm sandboxes are the podd's own, no more of them than its size.
			warm := p.warmUIDs(t)
			if len(warm) > size {
				t.Fatalf("%d warm sandboxes, more than the pool's %d: %v", len(warm), size, warm)
			}
			kept = maps.Clone(keep)
			if kept == nil {
				kept = map[string]bool{}
			}
			maps.Copy(kept, warm)
		}
		left := leaks(p.owned(t, uids), kept)
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("podd left behind %d things (keeping pods %v):\n  %s", len(left), slices.Sorted(maps.Keys(keep)), strings.Join(left, "\n  "))
		}
		time.Sleep(200 * time.Millisecond)
	}
}
