package fault

// The crash points of claims and StatefulSets, in the order a scale-up and a claim's deletion
// pass them; integration/statefulset_test.go kills podd at each (they are not in Points, whose
// test drives pods alone).
var StatefulSetPoints = []string{
	StatefulSetAfterClaims, ClaimAfterFolder, StatefulSetAfterPod, StatefulSetAfterStatus,
	ClaimAfterFolderRemoved,
}

// The crash points of claims and StatefulSets.
const (
	StatefulSetAfterClaims  = "statefulset/after-claims"   // a pod's claims stored, the pod not created
	StatefulSetAfterPod     = "statefulset/after-pod"      // a pod created, the StatefulSet's status not written
	StatefulSetAfterStatus  = "statefulset/after-status"   // the StatefulSet's status written
	ClaimAfterFolder        = "claim/after-folder"         // a claim's folder made, the claim not recorded Bound
	ClaimAfterFolderRemoved = "claim/after-folder-removed" // a deleted claim's folder removed, the claim still stored
)
