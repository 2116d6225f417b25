//go:build etcd

package main

// The etcd backend of the elector, in the build of the image localhost/podd/patterns-etcd
// (`make patterns-image`, -tags etcd) only: the etcd client (grpc, protobuf) would grow every
// other helper's image by 5 MB.
import _ "github.com/podd-dev/podd/pkg/helpers/elector/etcdbackend"
