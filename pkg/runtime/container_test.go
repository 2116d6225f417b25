package runtime

import "testing"

func TestIsContainerID(t *testing.T) {
	for _, tc := range []struct {
		s    string
		want bool
	}{
		{ContainerID("uid", "app", 0), true},
		{ContainerID("uid", "app/1", 3), true},
		{"extract-123-abc sha256:0123", false},
		{"sha256:" + ContainerID("uid", "app", 0)[:57], false},
		{"ABCDEF" + ContainerID("uid", "app", 0)[6:], false},
		{"", false},
	} {
		if got := isContainerID(tc.s); got != tc.want {
			t.Errorf("isContainerID(%q) = %v, want %v", tc.s, got, tc.want)
		}
	}
}
