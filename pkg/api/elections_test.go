package api_test

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/podd-dev/podd/pkg/api"
	"github.com/podd-dev/podd/pkg/api/apitest"
	"github.com/podd-dev/podd/pkg/controller/elections"
	"github.com/podd-dev/podd/pkg/pod"
)

// memTokens is the store's election bucket in memory.
type memTokens struct {
	mu sync.Mutex
	m  map[string]uint64
}

func (s *memTokens) PutElectionToken(ns, name string, tok uint64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.m[ns+"/"+name] = tok
	return nil
}

func (s *memTokens) ElectionTokens() (map[string]uint64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]uint64{}
	for k, v := range s.m {
		out[k] = v
	}
	return out, nil
}

func electionPod(name string, ready bool) *pod.Pod {
	p := socketPod(name, "u-"+name, "true")
	p.Spec.Containers = []pod.Container{{Name: "app", Image: "busybox"}}
	p.Status.ContainerStatuses = []pod.ContainerStatus{{Name: "app", ContainerID: "c-" + name, Ready: ready,
		State: pod.ContainerState{Running: &pod.ContainerStateRunning{}}}}
	return p
}

func post(t *testing.T, hc *http.Client, path, body string) (int, map[string]any) {
	t.Helper()
	resp, err := hc.Post("http://pod"+path, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	data, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(data, &out); err != nil {
		t.Fatalf("POST %s: %s: %q: %v", path, resp.Status, data, err)
	}
	return resp.StatusCode, out
}

func TestPodSocketElections(t *testing.T) {
	root, err := os.MkdirTemp("", "el")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(root) })
	dir := func(uid string) string { return filepath.Join(root, uid, "api") }
	fake := apitest.NewPods(electionPod("a", true), electionPod("b", true))
	pods := &watchedPods{Pods: fake, changed: make(chan struct{})}
	tokens := &memTokens{m: map[string]uint64{}}
	svc, err := elections.NewService(pods, tokens, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{}, 2)
	go func() { svc.Run(ctx); done <- struct{}{} }()
	go func() {
		api.NewPodSockets(pods, dir, selfPeer, "v-test", nil).WithElections(svc).Run(ctx)
		done <- struct{}{}
	}()
	t.Cleanup(func() { cancel(); <-done; <-done })
	sockA, sockB := filepath.Join(dir("u-a"), api.PodSocketName), filepath.Join(dir("u-b"), api.PodSocketName)
	waitPath(t, sockA, true)
	waitPath(t, sockB, true)
	a, b := rawClient(sockA), rawClient(sockB)

	// Bad input names the field and its limit.
	if code, out := post(t, a, "/elections/e/campaign", `{"ttlMillis": 5}`); code != http.StatusBadRequest || !strings.Contains(out["error"].(map[string]any)["message"].(string), "ttlMillis: 5 is out of range [100, 3600000]") {
		t.Errorf("ttl 5: %d %v", code, out)
	}
	if code, out := post(t, a, "/elections/e/campaign", `{"guard": ["nope"]}`); code != http.StatusBadRequest || !strings.Contains(out["error"].(map[string]any)["message"].(string), `guard[0]: "nope" is not a container of pod a`) {
		t.Errorf("guard nope: %d %v", code, out)
	}
	if code, out := post(t, a, "/elections/Bad_Name/campaign", `{}`); code != http.StatusBadRequest || !strings.Contains(out["error"].(map[string]any)["message"].(string), "election") {
		t.Errorf("bad name: %d %v", code, out)
	}

	code, out := post(t, a, "/elections/e/campaign", `{"ttlMillis": 60000}`)
	if code != http.StatusOK || out["leader"] != "a" || out["token"] != 1.0 || out["ttlMillis"] != 60000.0 {
		t.Fatalf("a's campaign: %d %v", code, out)
	}
	if code, out := post(t, b, "/elections/e/campaign", `{}`); code != http.StatusConflict || out["leader"] != "a" || out["token"] != 1.0 {
		t.Errorf("b's campaign without wait: %d %v, want 409 naming leader a", code, out)
	}

	// The watch sees a's lead, then b's.
	wreq, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://pod/elections/e/watch", nil)
	wresp, err := b.Do(wreq)
	if err != nil {
		t.Fatal(err)
	}
	defer wresp.Body.Close()
	if ct := wresp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Errorf("watch content type %q", ct)
	}
	events := make(chan elections.View, 16)
	go func() {
		sc := bufio.NewScanner(wresp.Body)
		for sc.Scan() {
			if data, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
				var v elections.View
				if json.Unmarshal([]byte(data), &v) == nil {
					events <- v
				}
			}
		}
		close(events)
	}()
	if v := <-events; v.Leader != "a" || v.Token != 1 {
		t.Errorf("first watch event %+v", v)
	}

	granted := make(chan map[string]any, 1)
	go func() {
		var out map[string]any
		if resp, err := b.Post("http://pod/elections/e/campaign", "application/json", strings.NewReader(`{"wait": true}`)); err == nil {
			json.NewDecoder(resp.Body).Decode(&out)
			resp.Body.Close()
		}
		granted <- out
	}()
	waitFor(t, func() bool { return len(svc.Get("default", "e").Candidates) == 1 })

	// a's app turns unready: the watch shows the election vacant after token 1 (a's elector learns
	// of its loss there), and once a acknowledges it, b is granted with a higher token.
	fake.Put(electionPod("a", false))
	pods.notify()
	for v := range events {
		if v.Leader == "" && v.LastToken == 1 {
			break
		}
	}
	select {
	case out := <-granted:
		t.Fatalf("b was granted before a acknowledged its loss: %v", out)
	case <-time.After(100 * time.Millisecond):
	}
	if code, out := post(t, a, "/elections/e/ack", `{"token": 1}`); code != http.StatusOK {
		t.Fatalf("a's ack: %d %v", code, out)
	}
	select {
	case out := <-granted:
		if out["leader"] != "b" || out["token"] != 2.0 {
			t.Errorf("b's long poll answered %v, want leader b token 2", out)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("b's long poll was not granted after a's app turned unready")
	}
	for v := range events {
		if v.Leader == "b" {
			if v.Token != 2 {
				t.Errorf("watch: b leads with token %d", v.Token)
			}
			break
		}
	}

	// a's stale token is refused; b's renew and resign pass.
	if code, out := post(t, a, "/elections/e/renew", `{"token": 1}`); code != http.StatusConflict || out["leader"] != "b" {
		t.Errorf("a's stale renew: %d %v", code, out)
	}
	if code, out := post(t, a, "/elections/e/resign", `{"token": 1}`); code != http.StatusConflict {
		t.Errorf("a's stale resign: %d %v", code, out)
	}
	// The ack endpoint: a loss that froze nothing is acknowledged all the same; a bad body names the field.
	if code, out := post(t, a, "/elections/e/ack", `{"token": 1}`); code != http.StatusOK || out["thawed"] != false || out["token"] != 1.0 {
		t.Errorf("a's ack: %d %v", code, out)
	}
	if code, out := post(t, a, "/elections/e/ack", `{}`); code != http.StatusBadRequest || !strings.Contains(fmtAny(out), "token") {
		t.Errorf("an ack without a token: %d %v", code, out)
	}
	if code, out := post(t, b, "/elections/e/renew", `{"token": 2}`); code != http.StatusOK || out["token"] != 2.0 {
		t.Errorf("b's renew: %d %v", code, out)
	}
	if code, out := post(t, b, "/elections/e/resign", `{"token": 2}`); code != http.StatusOK || out["leader"] != nil {
		t.Errorf("b's resign: %d %v", code, out)
	}
	if tokens.m["default/e"] != 2 {
		t.Errorf("stored token %d, want 2", tokens.m["default/e"])
	}

	// A new service on the same store (podd restarted): nobody leads, tokens go on.
	svc2, err := elections.NewService(pods, tokens, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if v := svc2.Get("default", "e"); v.Leader != "" || v.LastToken != 2 {
		t.Errorf("after a restart: %+v, want no leader, last token 2", v)
	}
	g, err := svc2.Campaign(ctx, electionPod("b", true), "e", elections.CampaignRequest{})
	if err != nil || g.Token != 3 {
		t.Errorf("campaign after a restart: %+v, %v, want token 3", g, err)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition never came")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func fmtAny(v any) string {
	data, _ := json.Marshal(v)
	return string(data)
}
