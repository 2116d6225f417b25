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
