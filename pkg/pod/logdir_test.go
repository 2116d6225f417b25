package pod

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestLogPathFitsEveryName: every component of a container's log path fits in a file name for
// every valid name (a 215-character pod name once made a folder name too long: the pod never
// started and could never be removed), and names that fit stay as the kubelet makes them.
func TestLogPathFitsEveryName(t *testing.T) {
	const uid = "0123abcd-0123-4567-89ab-0123456789ab"
	long253 := strings.Repeat("a", 61) + "." + strings.Repeat("b", 63) + "." + strings.Repeat("c", 63) + "." + strings.Repeat("d", 63)
	for _, tc := range []struct {
		namespace, name, container string
	}{
		{"default", "web", "app"},
		{strings.Repeat("n", 63), strings.Repeat("p", 154), "app"},                   // 255 bytes: unchanged
		{strings.Repeat("n", 63), strings.Repeat("p", 155), strings.Repeat("c", 63)}, // 256 bytes: shortened
		{"default", strings.Repeat("x", 215), "app"},                                 // the auditor's
		{strings.Repeat("n", 63), long253, strings.Repeat("c", 63)},                  // the longest
	} {
		p := &Pod{Metadata: ObjectMeta{Namespace: tc.namespace, Name: tc.name, UID: uid}}
		path := LogPath("/var/lib/podd/logs", p, tc.container, 99999)
		for _, part := range strings.Split(path, "/") {
			if len(part) > MaxFileName {
				t.Errorf("%s/%s: path component of %d bytes: %s", tc.namespace, tc.name, len(part), part)
			}
		}
		dir := filepath.Base(LogDir("/logs", p))
		kubelet := tc.namespace + "_" + tc.name + "_" + uid
		if fits := len(kubelet) <= MaxFileName; fits != (dir == kubelet) {
			t.Errorf("%s/%s: folder %q, the kubelet's name %q (fits: %v)", tc.namespace, tc.name, dir, kubelet, fits)
		}
		if !strings.HasSuffix(dir, "_"+uid) || !strings.HasPrefix(dir, tc.namespace+"_") {
			t.Errorf("%s/%s: folder %q lost its namespace or uid", tc.namespace, tc.name, dir)
		}
	}
	// Two long names with the same start get two folders.
	a := LogDirName("default", strings.Repeat("x", 240)+"a", uid)
	b := LogDirName("default", strings.Repeat("x", 240)+"b", uid)
	if a == b {
		t.Errorf("two long names share the folder %s", a)
	}
}
