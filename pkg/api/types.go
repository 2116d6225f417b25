package api

import (
	"github.com/podd-dev/podd/pkg/pod"
	"github.com/podd-dev/podd/pkg/supervisor"
)

// Version is the version of podd and podctl, set when building:
//
//	go build -ldflags "-X github.com/podd-dev/podd/pkg/api.Version=v0.1.0" ./cmd/...
//
// It lives here because both binaries import this package and the server reports it.
var Version = "dev"

// PatternsImageRepository is the repository of the patterns' helper image, which `make` builds
// from cmd/podd-patterns and podd imports from its archive on first use; the tag is Version, so
// that podd and podctl always name the helpers built with them.
const PatternsImageRepository = "localhost/podd/patterns"

// PatternsImage is the reference of the helper image of this build of podd and podctl.
func PatternsImage() string { return PatternsImageRepository + ":" + Version }

// PodList is the body of every response that carries several pods.
type PodList struct {
	Items []*pod.Pod `json:"items"`
}

// ImageList is the body of every response that carries several images.
type ImageList struct {
	Items []pod.Image `json:"items"`
}

// VersionInfo is the body of GET /v1/version.
type VersionInfo struct {
	Version string `json:"version"`
}

// ExecRequest is the body of POST /v1/namespaces/{namespace}/pods/{name}/exec.
type ExecRequest struct {
	// Container is the container to run in; "" means the pod's first container.
	Container string   `json:"container,omitempty"`
	Command   []string `json:"command"`
	// Stdin tells whether the client sends standard input; without it the command reads nothing.
	Stdin bool `json:"stdin,omitempty"`
	// TTY asks for a terminal; stdout and stderr then arrive merged on stdout.
	TTY bool `json:"tty,omitempty"`
	// Size is the terminal's initial size (TTY only).
	Size *supervisor.TermSize `json:"size,omitempty"`
}

// ErrorResponse is the body of every error response.
type ErrorResponse struct {
	Error *Error `json:"error"`
}
