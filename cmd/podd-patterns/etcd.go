//go:build etcd

package main

// The etcd backends of the elector and of the work queue, in the build of the image
// localhost/podd/patterns-etcd only (`make patterns-image`, -tags etcd): the etcd client (grpc,
// protobuf) would grow every other helper's image by 5 MB.
import (
	_ "github.com/podd-dev/podd/pkg/helpers/elector/etcdbackend"
	_ "github.com/podd-dev/podd/pkg/helpers/workqueue/etcdqueue"
)
