package api

import (
	"net/http"

	"github.com/podd-dev/podd/pkg/api/wire"
)

// maxPatchBytes bounds a metadata patch: annotations total at most 256 KiB in Kubernetes.
const maxPatchBytes = 1 << 20

func (s *server) patchMetadata(w http.ResponseWriter, r *http.Request) error {
	body, err := readBody(w, r, maxPatchBytes, "metadata patch")
	if err != nil {
		return err
	}
	patch, err := wire.DecodePatch(body)
	if err != nil {
		return err
	}
	p, err := s.pods.UpdateMetadata(r.Context(), r.PathValue("namespace"), r.PathValue("name"), patch)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, p)
	return nil
}
