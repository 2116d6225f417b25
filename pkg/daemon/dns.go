package daemon

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"

	"github.com/podd-dev/podd/pkg/dns"
	"github.com/podd-dev/podd/pkg/sandbox"
)

// hostResolvConf is where podd finds the resolvers it forwards to without --dns-upstream.
const hostResolvConf = "/etc/resolv.conf"

// startClusterDNS serves the cluster DNS on the bridge's gateway, port 53, to the pods' addresses
// (the host itself asks from the gateway's own address, which is one of them); anyone else who
// can route to the gateway is refused, so that podd is no open resolver.
func startClusterDNS(ctx context.Context, cfg Config, host *sandbox.Host, log *slog.Logger) (*dns.Server, error) {
	addr := net.JoinHostPort(host.Gateway().String(), "53")
	upstreams := cfg.DNSUpstreams
	if len(upstreams) == 0 {
		hosts, err := dns.HostUpstreams(hostResolvConf)
		if err != nil {
			log.Warn("cluster DNS: no upstream resolvers; names outside the cluster domain will fail", "err", err)
		}
		// A host that asks podd itself would make every forwarded question come back: a loop.
		for _, u := range hosts {
			if u == addr {
				log.Warn("cluster DNS: the host's resolv.conf names podd's own address; it is not forwarded to", "upstream", u)
				continue
			}
			upstreams = append(upstreams, u)
		}
	}
	srv, err := dns.New(dns.Config{
		Domain:    cfg.ClusterDomain,
		Upstreams: upstreams,
		Clients:   []netip.Prefix{host.PodCIDR()},
		Log:       log,
	})
	if err != nil {
		return nil, fmt.Errorf("--cluster-domain: %w", err)
	}
	if _, err := srv.Start(ctx, addr); err != nil {
		return nil, fmt.Errorf("serve the cluster DNS on %s (--cluster-dns=false turns it off): %w", addr, err)
	}
	log.Info("serving the cluster DNS", "address", addr, "domain", srv.Domain(), "upstreams", upstreams)
	return srv, nil
}
