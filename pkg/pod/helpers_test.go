package pod

import (
	"errors"
	"testing"

	"github.com/containerd/errdefs"
)

// fieldErrors flattens what Decode and Validate return, asserting that every part is a
// *FieldError classified as invalid input.
func fieldErrors(t *testing.T, err error) []*FieldError {
	t.Helper()
	if err == nil {
		t.Fatal("expected an error, got nil")
	}
	if !errdefs.IsInvalidArgument(err) {
		t.Errorf("error is not an invalid argument: %v", err)
	}
	var parts []error
	if joined, ok := err.(interface{ Unwrap() []error }); ok {
		parts = joined.Unwrap()
	} else {
		parts = []error{err}
	}
	var out []*FieldError
	for _, part := range parts {
		var fe *FieldError
		if !errors.As(part, &fe) {
			t.Fatalf("error part %T is not a *FieldError: %v", part, part)
		}
		if !errdefs.IsInvalidArgument(part) {
			t.Errorf("error part is not an invalid argument: %v", part)
		}
		out = append(out, fe)
	}
	return out
}

func TestParseSelector(t *testing.T) {
	labels := map[string]string{"app": "web", "tier": "front"}
	tests := []struct {
		sel  string
		want bool
	}{
		{"", true},
		{"app=web", true},
		{"app==web", true},
		{"app=db", false},
		{"app!=db", true},
		{"app=web,tier=back", false},
		{"tier in (front, back)", true},
		{"tier notin (front)", false},
		{"app", true},
		{"!app", false},
		{"!zone,app in (web),tier", true},
	}
	for _, tt := range tests {
		s, err := ParseSelector(tt.sel)
		if err != nil {
			t.Errorf("%q: %v", tt.sel, err)
			continue
		}
		if got := s.Matches(labels); got != tt.want {
			t.Errorf("%q matches %v = %v, want %v", tt.sel, labels, got, tt.want)
		}
	}
	for _, bad := range []string{"app in web", "a b=c", ",", "Bad Key"} {
		if _, err := ParseSelector(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}
