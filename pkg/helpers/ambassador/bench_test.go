package ambassador

import (
	"fmt"
	"testing"

	"github.com/podd-dev/podd/internal/hosttest"
)

// BenchmarkPipelinedGetSet: batches of 16 pipelined SET and GET through the ambassador to three
// real redis-servers; one op is one request. With -cpuprofile it shows the proxy's hot path.
func BenchmarkPipelinedGetSet(b *testing.B) {
	hosttest.NeedBinaries(b, "redis-server", "redis-server")
	addrs := []string{startRedis(b), startRedis(b), startRedis(b)}
	pool := &PoolConfig{Name: "p", Listen: "127.0.0.1:0", Redis: true}
	for _, a := range addrs {
		pool.Servers = append(pool.Servers, a+":1")
	}
	_, amb := startAmbassador(b, []*PoolConfig{pool}, Options{})
	c := dialConn(b, amb[0], true)
	var req []byte
	kinds := make([]mcKind, 16)
	for i := 0; i < 8; i++ {
		req = append(req, encodeRESP("SET", fmt.Sprintf("key:%d", i*7919), "value")...)
		req = append(req, encodeRESP("GET", fmt.Sprintf("key:%d", i*104729))...)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i += 16 {
		c.pipeline(req, kinds)
	}
}
