package pod

import (
	"crypto/rand"
	"encoding/hex"
)

// NewUID makes a Kubernetes-style UID: a random (version 4) UUID.
func NewUID() string {
	var b [16]byte
	rand.Read(b[:]) // never fails (crypto/rand's Read panics rather than return an error)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}
