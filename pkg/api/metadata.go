package api

import (
	"bytes"
	"encoding/json"
	"net/http"

	"github.com/podd-dev/podd/pkg/pod"
)

// maxPatchBytes bounds a metadata patch: annotations total at most 256 KiB in Kubernetes.
const maxPatchBytes = 1 << 20

func (s *server) patchMetadata(w http.ResponseWriter, r *http.Request) error {
	body, err := readBody(w, r, maxPatchBytes, "metadata patch")
	if err != nil {
		return err
	}
	patch, err := decodePatch(body)
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

// decodePatch reads a metadata patch: one JSON object, no unknown fields, nothing after it.
func decodePatch(body []byte) (pod.MetadataPatch, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	var patch pod.MetadataPatch
	if err := dec.Decode(&patch); err != nil {
		return pod.MetadataPatch{}, invalid("metadata patch: " + err.Error() + ` (want {"labels": {"k": "v", "gone": null}, "annotations": {...}, "overwrite": false})`)
	}
	return patch, nil
}
