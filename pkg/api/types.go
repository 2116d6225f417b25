package api

import (
	"github.com/podd-dev/podd/pkg/api/wire"
	"github.com/podd-dev/podd/pkg/pod"
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

// ExecRequest is the body of POST /v1/namespaces/{namespace}/pods/{name}/exec (wire.ExecRequest).
type ExecRequest = wire.ExecRequest

// TermSize is a terminal's size in characters (wire.TermSize).
type TermSize = wire.TermSize

// ErrorResponse is the body of every error response.
type ErrorResponse struct {
	Error *Error `json:"error"`
}
