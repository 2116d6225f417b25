package helper

import (
	"strings"
	"testing"
)

func TestReadOnlyMappings(t *testing.T) {
	maps := `00400000-0093c000 r-xp 00000000 fe:00 10002776   /bin/podd-patterns
0093c000-00f2a000 r--p 0053c000 fe:00 10002776   /bin/podd-patterns
00f2a000-00f94000 rw-p 00b2a000 fe:00 10002776   /bin/podd-patterns
00f94000-02fd8000 rw-p 00000000 00:00 0
7f0000000000-7f0000001000 r--s 00000000 fe:00 1   /bin/podd-patterns
7f0000002000-7f0000003000 r--p 00000000 fe:00 2   /lib/other.so
`
	got, err := readOnlyMappings(strings.NewReader(maps), "/bin/podd-patterns")
	if err != nil {
		t.Fatal(err)
	}
	want := [][2]uintptr{{0x400000, 0x93c000}, {0x93c000, 0xf2a000}}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("readOnlyMappings = %x, want %x (text and rodata; not the written data, a shared mapping or another file)", got, want)
	}
}

// The process goes on running its code after its text was dropped: the pages fault back in.
func TestTrimSelf(t *testing.T) {
	n, err := TrimSelf()
	if err != nil {
		t.Fatal(err)
	}
	if n <= 0 {
		t.Fatalf("TrimSelf advised %d bytes, want the test binary's text and rodata", n)
	}
	if s := strings.Repeat("x", 3); s != "xxx" {
		t.Fatal("code after the trim misbehaves")
	}
}
