package logs

import (
	"testing"

	"github.com/containerd/errdefs"
)

func TestParseCursor(t *testing.T) {
	tests := []struct {
		in   string
		want Cursor
		ok   bool
	}{
		{"0/", Cursor{0, ""}, true},
		{"12/2024-05-01T10:00:00.000000001Z", Cursor{12, "2024-05-01T10:00:00.000000001Z"}, true},
		{"", Cursor{}, false},
		{"1", Cursor{}, false},
		{"-1/", Cursor{}, false},
		{"01/", Cursor{}, false},
		{"1/2024-05-01T10:00:00Z", Cursor{}, false}, // not the logger's fixed width
		{"1/yesterday", Cursor{}, false},
	}
	for _, tt := range tests {
		got, err := ParseCursor(tt.in)
		if tt.ok != (err == nil) || got != tt.want {
			t.Errorf("ParseCursor(%q) = %+v, %v", tt.in, got, err)
			continue
		}
		if tt.ok && got.String() != tt.in {
			t.Errorf("String() = %q, want %q", got.String(), tt.in)
		}
		if !tt.ok && !errdefs.IsInvalidArgument(err) {
			t.Errorf("ParseCursor(%q): %v, want invalid argument", tt.in, err)
		}
	}
}
