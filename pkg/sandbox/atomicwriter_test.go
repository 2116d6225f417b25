package sandbox

import (
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/podd-dev/podd/pkg/pod"
)

func readVolume(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "..") {
			continue
		}
		// What a reader sees: through the user link and ..data.
		filepath.WalkDir(filepath.Join(dir, e.Name())+"/", func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			data, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			rel, _ := filepath.Rel(dir, p)
			out[rel] = string(data)
			return nil
		})
		if data, err := os.ReadFile(filepath.Join(dir, e.Name())); err == nil {
			out[e.Name()] = string(data)
		}
	}
	return out
}

func dataDirs(t *testing.T, dir string) []string {
	t.Helper()
	entries, _ := os.ReadDir(dir)
	var out []string
	for _, e := range entries {
		if e.IsDir() && strings.HasPrefix(e.Name(), "..") {
			out = append(out, e.Name())
		}
	}
	return out
}

func TestWriteAtomic(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "vol")
	steps := []struct {
		name  string
		files map[string]pod.VolumeFile
		want  map[string]string
	}{
		{"first write", map[string]pod.VolumeFile{
			"labels":    {Data: []byte(`app="web"`), Mode: 0o644},
			"meta/name": {Data: []byte("web"), Mode: 0o400},
		}, map[string]string{"labels": `app="web"`, "meta/name": "web"}},
		{"update one file", map[string]pod.VolumeFile{
			"labels":    {Data: []byte(`app="api"`), Mode: 0o644},
			"meta/name": {Data: []byte("web"), Mode: 0o400},
		}, map[string]string{"labels": `app="api"`, "meta/name": "web"}},
		{"a file goes, another comes", map[string]pod.VolumeFile{
			"labels": {Data: []byte(`app="api"`), Mode: 0o644},
			"uid":    {Data: []byte("u-1"), Mode: 0o644},
		}, map[string]string{"labels": `app="api"`, "uid": "u-1"}},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			if err := writeAtomic(dir, st.files); err != nil {
				t.Fatal(err)
			}
			got := readVolume(t, dir)
			if len(got) != len(st.want) {
				t.Errorf("volume holds %v, want %v", got, st.want)
			}
			for k, v := range st.want {
				if got[k] != v {
					t.Errorf("%s = %q, want %q", k, got[k], v)
				}
			}
			// Exactly one data folder, which ..data names; every visible name links through it.
			data, err := os.Readlink(filepath.Join(dir, dataLink))
			if err != nil {
				t.Fatal(err)
			}
			if dirs := dataDirs(t, dir); !slices.Equal(dirs, []string{data}) {
				t.Errorf("data folders %v, ..data -> %s", dirs, data)
			}
			for name := range st.files {
				top := strings.SplitN(name, "/", 2)[0]
				if l, err := os.Readlink(filepath.Join(dir, top)); err != nil || l != filepath.Join(dataLink, top) {
					t.Errorf("%s links to %q (%v), want through ..data", top, l, err)
				}
				fi, err := os.Stat(filepath.Join(dir, name))
				if err != nil || fi.Mode().Perm() != fs.FileMode(st.files[name].Mode) {
					t.Errorf("%s mode %v (%v), want %o", name, fi.Mode(), err, st.files[name].Mode)
				}
			}
		})
	}

	t.Run("same content writes nothing", func(t *testing.T) {
		before, _ := os.Readlink(filepath.Join(dir, dataLink))
		if err := writeAtomic(dir, steps[2].files); err != nil {
			t.Fatal(err)
		}
		if after, _ := os.Readlink(filepath.Join(dir, dataLink)); after != before {
			t.Errorf("..data moved from %s to %s for the same content", before, after)
		}
	})

	t.Run("a file opened before an update keeps its version", func(t *testing.T) {
		f, err := os.Open(filepath.Join(dir, "uid"))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if err := writeAtomic(dir, map[string]pod.VolumeFile{"uid": {Data: []byte("u-2"), Mode: 0o644}}); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 16)
		n, _ := f.Read(buf)
		if string(buf[:n]) != "u-1" {
			t.Errorf("open file reads %q", buf[:n])
		}
		if got := readVolume(t, dir); len(got) != 1 || got["uid"] != "u-2" {
			t.Errorf("volume holds %v", got)
		}
	})

	for _, bad := range []string{"/abs", "../up", "..data", "a/../../b", ""} {
		t.Run("refuses "+bad, func(t *testing.T) {
			before := readVolume(t, dir)
			if err := writeAtomic(dir, map[string]pod.VolumeFile{bad: {Data: []byte("x"), Mode: 0o644}}); err == nil {
				t.Errorf("%q accepted", bad)
			}
			if after := readVolume(t, dir); len(after) != len(before) || after["uid"] != before["uid"] {
				t.Errorf("a refused write changed the volume: %v", after)
			}
		})
	}
}
