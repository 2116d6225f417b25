package pod

// Quantity is a Kubernetes resource quantity ("64Mi", "500m", "1G"), kept as written.
// PLACEHOLDER: the decoding helper replaces this file with the real parser.
type Quantity struct {
	s string
}
