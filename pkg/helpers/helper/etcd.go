package helper

import (
	"errors"
	"fmt"
	"net"
	"net/url"
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
