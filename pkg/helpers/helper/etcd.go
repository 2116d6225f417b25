package helper

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"
)

// EtcdEndpoints reads a helper's --etcd-endpoints (the elector's and the work queue's): a
// comma-separated list of http(s)://host:port or host:port, at least one.
func EtcdEndpoints(list string) ([]string, error) {
	var out []string
	for _, ep := range strings.Split(list, ",") {
		ep = strings.TrimSpace(ep)
		if ep == "" {
			continue
		}
		hostport := ep
		if strings.Contains(ep, "://") {
			u, err := url.Parse(ep)
			if err != nil {
				return nil, fmt.Errorf("--etcd-endpoints: %q: %w", ep, err)
			}
			if u.Scheme != "http" && u.Scheme != "https" {
				return nil, fmt.Errorf("--etcd-endpoints: %q: the scheme must be http or https", ep)
			}
			if u.Path != "" && u.Path != "/" || u.RawQuery != "" {
				return nil, fmt.Errorf("--etcd-endpoints: %q: an endpoint has no path or query", ep)
			}
			hostport = u.Host
		}
		if _, port, err := net.SplitHostPort(hostport); err != nil || port == "" {
			return nil, fmt.Errorf("--etcd-endpoints: %q: want host:port or http(s)://host:port", ep)
		}
		out = append(out, ep)
	}
	if len(out) == 0 {
		return nil, errors.New("--etcd-endpoints: at least one endpoint is required with --backend etcd")
	}
	return out, nil
}

// EtcdTLS reads a helper's --etcd-ca-file, --etcd-cert-file and --etcd-key-file (the CA that
// signed the members' certificates; the client's certificate and key, which go together): nil
// when none is given; each error names its flag.
func EtcdTLS(caFile, certFile, keyFile string) (*tls.Config, error) {
	if caFile == "" && certFile == "" && keyFile == "" {
		return nil, nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if caFile != "" {
		data, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("--etcd-ca-file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(data) {
			return nil, fmt.Errorf("--etcd-ca-file: %s: no PEM certificate in it", caFile)
		}
		cfg.RootCAs = pool
	}
	if (certFile == "") != (keyFile == "") {
		return nil, errors.New("--etcd-cert-file and --etcd-key-file: give both or neither")
	}
	if certFile != "" {
		if _, err := os.Stat(certFile); err != nil {
			return nil, fmt.Errorf("--etcd-cert-file: %w", err)
		}
		if _, err := os.Stat(keyFile); err != nil {
			return nil, fmt.Errorf("--etcd-key-file: %w", err)
		}
		cert, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, fmt.Errorf("--etcd-cert-file and --etcd-key-file: %w", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}
