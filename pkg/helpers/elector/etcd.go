package elector

import (
	"crypto/tls"
	"fmt"
	"time"

	"github.com/podd-dev/podd/pkg/helpers/helper"
)

// The etcd backend's defaults and limits.
const (
	DefaultEtcdEndpoints = "http://127.0.0.1:2379"
	DefaultEtcdPrefix    = "/podd/elections/"
	DefaultEtcdTTL       = 5 * time.Second
	// minEtcdTTL: etcd leases count whole seconds, and below 2 s one missed keepalive (sent
	// every ttl/3) is a lost lead.
	minEtcdTTL = 2 * time.Second
)

// EtcdConfig is the etcd backend's settings (the --etcd-* flags).
type EtcdConfig struct {
	Endpoints []string
	// TLS: the CA that signed the members' certificates, and the client's certificate and key
	// (all optional; the certificate and the key go together).
	CAFile, CertFile, KeyFile string
	Prefix                    string
	// Name is the candidate's name, the value of its key (the pod's name).
	Name string
	TTL  time.Duration
}

// checkEtcdTTL: whole seconds, at least 2 s.
func checkEtcdTTL(ttl time.Duration) error {
	if ttl < minEtcdTTL || ttl > maxTTL {
		return fmt.Errorf("--ttl: %s is out of range [%s, %s] on etcd", ttl, minEtcdTTL, maxTTL)
	}
	if ttl%time.Second != 0 {
		return fmt.Errorf("--ttl: %s is not a whole number of seconds (etcd's leases count seconds)", ttl)
	}
	return nil
}

// tlsConfig reads the TLS files, nil when none is given; each error names its flag.
func (c EtcdConfig) tlsConfig() (*tls.Config, error) {
	return helper.EtcdTLS(c.CAFile, c.CertFile, c.KeyFile)
}

// EtcdBackend is an etcd backend: a Backend with a session to close at exit.
type EtcdBackend interface {
	Backend
	Close() error
}

// newEtcd makes the etcd backend, when this build links it (package etcdbackend, which the
// helper binary of the image localhost/podd/patterns-etcd imports): the etcd client (grpc and
// protobuf) is 5 MB that the other helpers' image does without.
var newEtcd func(EtcdConfig) (EtcdBackend, error)

// RegisterEtcd installs the etcd backend's constructor.
func RegisterEtcd(f func(EtcdConfig) (EtcdBackend, error)) { newEtcd = f }

// TLSConfig reads the TLS files, nil when none is given; each error names its flag.
func (c EtcdConfig) TLSConfig() (*tls.Config, error) { return c.tlsConfig() }

// CheckEtcdTTL: whole seconds, at least 2 s.
func CheckEtcdTTL(ttl time.Duration) error { return checkEtcdTTL(ttl) }

// EtcdImageHint names the helper image with the etcd backend, in errors.
const EtcdImageHint = "localhost/podd/patterns-etcd"
