package elector

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// DefaultSocket is where podd mounts a pod's own API socket.
const DefaultSocket = "/run/podd/podd.sock"

// Local is the "local" backend: podd arbitrates the elections of its pods, through the pod's own
// API socket (the pod asks with the annotation podd.io/api-socket).
type Local struct {
	hc    *http.Client
	guard []string
}

// NewLocal talks to podd through the socket at path; guard names the pod's containers the
// leadership depends on (empty: podd's default, the pod's regular containers).
func NewLocal(path string, guard []string) *Local {
	return &Local{guard: guard, hc: &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		},
		MaxIdleConnsPerHost: 4,
	}}}
}

func (l *Local) do(ctx context.Context, method, path string, in, out any) (int, error) {
	var body io.Reader
	if in != nil {
		data, err := json.Marshal(in)
		if err != nil {
			return 0, err
		}
		body = bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://podd"+path, body)
	if err != nil {
		return 0, err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := l.hc.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return resp.StatusCode, err
	}
	switch resp.StatusCode {
	case http.StatusOK:
		if out != nil {
			return resp.StatusCode, json.Unmarshal(data, out)
		}
		return resp.StatusCode, nil
	case http.StatusConflict:
		var nl struct {
			Leader string `json:"leader"`
		}
		_ = json.Unmarshal(data, &nl)
		return resp.StatusCode, fmt.Errorf("%w (leader %q)", ErrNotLeader, nl.Leader)
	}
	var e struct {
		Error struct {
			Message string `json:"message"`
		} `json:"error"`
	}
	if json.Unmarshal(data, &e) == nil && e.Error.Message != "" {
		return resp.StatusCode, fmt.Errorf("podd: %s %s: %s", method, path, e.Error.Message)
	}
	return resp.StatusCode, fmt.Errorf("podd: %s %s: %s", method, path, resp.Status)
}

// Self is the pod's name, read from podd.
func (l *Local) Self(ctx context.Context) (string, error) {
	var p struct {
		Metadata struct {
			Name string `json:"name"`
		} `json:"metadata"`
	}
	if _, err := l.do(ctx, http.MethodGet, "/pod", nil, &p); err != nil {
		return "", err
	}
	return p.Metadata.Name, nil
}

type localGrant struct {
	Leader    string `json:"leader"`
	Token     uint64 `json:"token"`
	TTLMillis int64  `json:"ttlMillis"`
}

func (g localGrant) grant() Grant {
	return Grant{Leader: g.Leader, Token: g.Token, TTL: time.Duration(g.TTLMillis) * time.Millisecond}
}

func electionPath(name, verb string) string {
	p := "/elections/" + url.PathEscape(name)
	if verb != "" {
		p += "/" + verb
	}
	return p
}

// Campaign asks podd for the lead.
func (l *Local) Campaign(ctx context.Context, election string, ttl time.Duration, wait bool) (Grant, error) {
	req := map[string]any{"ttlMillis": ttl.Milliseconds(), "wait": wait}
	if len(l.guard) > 0 {
		req["guard"] = l.guard
	}
	var g localGrant
	_, err := l.do(ctx, http.MethodPost, electionPath(election, "campaign"), req, &g)
	return g.grant(), err
}

// Renew extends the lease.
func (l *Local) Renew(ctx context.Context, election string, token uint64, ttl time.Duration) (Grant, error) {
	var g localGrant
	_, err := l.do(ctx, http.MethodPost, electionPath(election, "renew"), map[string]any{"token": token, "ttlMillis": ttl.Milliseconds()}, &g)
	return g.grant(), err
}

// Resign gives the lead up.
func (l *Local) Resign(ctx context.Context, election string, token uint64) error {
	_, err := l.do(ctx, http.MethodPost, electionPath(election, "resign"), map[string]any{"token": token}, nil)
	return err
}

// Ack acknowledges a lost lease: podd thaws what it froze of the pod.
func (l *Local) Ack(ctx context.Context, election string, token uint64) error {
	_, err := l.do(ctx, http.MethodPost, electionPath(election, "ack"), map[string]any{"token": token}, nil)
	return err
}

// Observe follows podd's Server-Sent Events of the election.
func (l *Local) Observe(ctx context.Context, election string, fn func(Observed)) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://podd"+electionPath(election, "watch"), nil)
	if err != nil {
		return err
	}
	resp, err := l.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("podd: watch %s: %s", election, resp.Status)
	}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		data, ok := strings.CutPrefix(sc.Text(), "data: ")
		if !ok {
			continue
		}
		var v struct {
			Leader    string `json:"leader"`
			Token     uint64 `json:"token"`
			LastToken uint64 `json:"lastToken"`
		}
		if err := json.Unmarshal([]byte(data), &v); err != nil {
			return fmt.Errorf("podd: watch %s: %w", election, err)
		}
		fn(Observed{Leader: v.Leader, Token: v.Token, Last: v.LastToken})
	}
	if err := sc.Err(); err != nil {
		return err
	}
	return io.ErrUnexpectedEOF
}
