package supervisor

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/podd-dev/podd/pkg/pod"
)

// The network handlers against real servers on loopback (the fake runtime dials on the host).
func TestProbeNetworkHandlers(t *testing.T) {
	rt := newFakeRuntime()
	w := &worker{m: &Manager{rt: rt, sb: rt}}
	tgt := target{spec: &pod.Container{Name: "c", Ports: []pod.ContainerPort{{Name: "web", ContainerPort: 0}}}, sb: &pod.Sandbox{}}
	run := func(a action) error {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		return w.runAction(ctx, a, tgt)
	}

	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	hs := health.NewServer()
	healthpb.RegisterHealthServer(srv, hs)
	go srv.Serve(lis)
	defer srv.Stop()
	port := int32(lis.Addr().(*net.TCPAddr).Port)
	if err := run(action{grpc: &pod.GRPCAction{Port: port}}); err != nil {
		t.Errorf("grpc probe of a serving server: %v", err)
	}
	svc := "db"
	hs.SetServingStatus(svc, healthpb.HealthCheckResponse_NOT_SERVING)
	if err := run(action{grpc: &pod.GRPCAction{Port: port, Service: &svc}}); err == nil || !strings.Contains(err.Error(), "NOT_SERVING") {
		t.Errorf("grpc probe of a NOT_SERVING service: %v", err)
	}
	if err := run(action{tcp: &pod.TCPSocketAction{Port: pod.IntOrString{IntVal: port}}}); err != nil {
		t.Errorf("tcp probe of a listening port: %v", err)
	}

	hsrv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/ok" && r.Header.Get("X-Probe") == "1" {
			rw.WriteHeader(204)
			return
		}
		http.Error(rw, "nope", http.StatusServiceUnavailable)
	}))
	defer hsrv.Close()
	hport, _ := strconv.Atoi(hsrv.URL[strings.LastIndex(hsrv.URL, ":")+1:])
	tgt.spec.Ports[0].ContainerPort = int32(hport)
	ok := &pod.HTTPGetAction{Scheme: "HTTP", Path: "/ok", Port: pod.IntOrString{IsStr: true, StrVal: "web"}, HTTPHeaders: []pod.HTTPHeader{{Name: "X-Probe", Value: "1"}}}
	if err := run(action{httpGet: ok}); err != nil {
		t.Errorf("httpGet of a 204 by named port: %v", err)
	}
	if err := run(action{httpGet: &pod.HTTPGetAction{Scheme: "HTTP", Path: "/bad", Port: pod.IntOrString{IntVal: int32(hport)}}}); err == nil || !strings.Contains(err.Error(), "503") {
		t.Errorf("httpGet of a 503: %v", err)
	}
	hsrv.Close()
	if err := run(action{tcp: &pod.TCPSocketAction{Port: pod.IntOrString{IntVal: int32(hport)}}}); err == nil {
		t.Error("tcp probe of a closed port succeeded")
	}
}
