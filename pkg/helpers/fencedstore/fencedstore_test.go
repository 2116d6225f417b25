package fencedstore

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestFencing(t *testing.T) {
	srv := httptest.NewServer(New().Handler())
	defer srv.Close()
	put := func(key, token, value string) int {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPut, srv.URL+"/k/"+key, strings.NewReader(value))
		if token != "" {
			req.Header.Set(TokenHeader, token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for _, tc := range []struct {
		key, token, value string
		want              int
	}{
		{"a", "1", "one", http.StatusNoContent},
		{"a", "1", "one again", http.StatusNoContent}, // the same leader writes twice
		{"b", "3", "three", http.StatusNoContent},
		{"a", "2", "stale", http.StatusConflict}, // a deposed leader, below the highest seen (3)
		{"a", "", "none", http.StatusBadRequest},
		{"a", "x", "bad", http.StatusBadRequest},
		{"a", "4", "four", http.StatusNoContent},
	} {
		if got := put(tc.key, tc.token, tc.value); got != tc.want {
			t.Errorf("PUT %s token %q: %d, want %d", tc.key, tc.token, got, tc.want)
		}
	}
	resp, err := http.Get(srv.URL + "/k/a")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "four" || resp.Header.Get(TokenHeader) != "4" {
		t.Errorf("GET a = %q token %s, want four 4", body, resp.Header.Get(TokenHeader))
	}
	resp, err = http.Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{"fenced_store_writes_accepted_total 4", "fenced_store_writes_rejected_total 1", "fenced_store_highest_token 4"} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %q:\n%s", want, body)
		}
	}
}
