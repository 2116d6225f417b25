package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/podd-dev/podd/pkg/pod"
)

// maxPatchBytes bounds a metadata patch: annotations total at most 256 KiB in Kubernetes.
const maxPatchBytes = 1 << 20

func (s *server) patchMetadata(w http.ResponseWriter, r *http.Request) error {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxPatchBytes))
	dec.DisallowUnknownFields()
	var patch pod.MetadataPatch
	if err := dec.Decode(&patch); err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return invalid(fmt.Sprintf("metadata patch is larger than %d bytes", tooLarge.Limit))
		}
		return invalid("metadata patch: " + err.Error() + ` (want {"labels": {"k": "v", "gone": null}, "annotations": {...}, "overwrite": false})`)
	}
	p, err := s.pods.UpdateMetadata(r.Context(), r.PathValue("namespace"), r.PathValue("name"), patch)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, p)
	return nil
}
