package runtime

import (
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/podd-dev/podd/pkg/pod"
)

func TestImageCache(t *testing.T) {
	var c imageCache
	const name = "docker.io/library/busybox:1"
	d1, d2 := digest.FromString("one"), digest.FromString("two")
	if c.get(name, d1) != nil {
		t.Fatal("an empty cache has an entry")
	}
	ri := &resolvedImage{target: d1, chainID: "sha256:chain", config: pod.ImageConfig{Ref: name, Cmd: []string{"sh"}}}
	c.put(name, ri)
	if c.get(name, d1) != ri {
		t.Error("the entry put is not found for its target")
	}
	if c.get(name, d2) != nil {
		t.Error("the entry is found for another target: the name moved, the cache must not answer")
	}
	if c.get("docker.io/library/other:1", d1) != nil {
		t.Error("the entry is found for another name")
	}
	// A copy: a caller that changes its config changes nothing cached.
	cfg := ri.imageConfig()
	cfg.Cmd[0], cfg.Ref = "changed", "changed"
	if ri.config.Cmd[0] != "sh" || ri.config.Ref != name {
		t.Errorf("the cached config changed with a copy: %+v", ri.config)
	}
	c.put(name, &resolvedImage{target: d2})
	if c.get(name, d1) != nil || c.get(name, d2) == nil {
		t.Error("a name's new target does not replace its entry")
	}
	c.forget(name)
	if c.get(name, d2) != nil {
		t.Error("a forgotten image is still cached")
	}
}
