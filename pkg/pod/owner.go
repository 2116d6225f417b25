package pod

// Owner says what decides whether a pod exists, as Kubernetes' ownerReferences do: a static
// manifest file (Kind OwnerFile, Name its path), and workload objects next. The zero Owner is the
// API: podctl created the pod, and only podctl removes it.
type Owner struct {
	Kind string `json:"kind,omitempty"`
	Name string `json:"name,omitempty"`
	// Hash identifies the owner's description of the pod when it was created: the owner replaces
	// the pod when its description changes.
	Hash string `json:"hash,omitempty"`
}

// OwnerFile is the Kind of a static pod's owner: a file of podd's manifests folder.
const OwnerFile = "File"

// IsZero: the pod was created through the API.
func (o Owner) IsZero() bool { return o == Owner{} }

// Owns says whether o is the owner other names (the hash aside).
func (o Owner) Owns(other Owner) bool { return o.Kind == other.Kind && o.Name == other.Name }

// Annotations podd puts on static pods, as the kubelet marks its mirror pods, so that get,
// describe and -o yaml show where a pod comes from.
const (
	AnnotationConfigSource = "podd.io/config.source" // "file"
	AnnotationConfigFile   = "podd.io/config.file"   // the manifest's path
	AnnotationConfigHash   = "podd.io/config.hash"   // the owner's Hash
)
