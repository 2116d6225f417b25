// Command sgleaf is the scatter/gather integration test's leaf and merge.
//
// As a leaf (the default) it answers every request with {"pod": $HOSTNAME, "n": 1}, after the
// delay and with the failure the test sets on it through POST /_control?delay=MS&fail=0|1. A
// request whose connection the root closes before the answer (its context ends) is recorded, by
// its X-Podd-Request-Id, and GET /_cancelled lists them: how the test sees that the root cancelled
// a straggler.
//
// As a merge (-merge) it takes the root's merge input and answers {"pods": [...sorted], "sum": N,
// "missing": [...shards]}.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

func main() {
	listen := flag.String("listen", ":8080", "host:port")
	merge := flag.Bool("merge", false, "be the merge instead of a leaf")
	flag.Parse()
	h := leafHandler()
	if *merge {
		h = http.HandlerFunc(mergeHandler)
	}
	if err := http.ListenAndServe(*listen, h); err != nil {
		fmt.Fprintln(os.Stderr, "sgleaf:", err)
		os.Exit(1)
	}
}

func leafHandler() http.Handler {
	host, _ := os.Hostname()
	var delayMs atomic.Int64
	var fail atomic.Bool
	var mu sync.Mutex
	var cancelled []string
	mux := http.NewServeMux()
	mux.HandleFunc("POST /_control", func(w http.ResponseWriter, r *http.Request) {
		if v := r.URL.Query().Get("delay"); v != "" {
			d, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			delayMs.Store(d)
		}
		if v := r.URL.Query().Get("fail"); v != "" {
			fail.Store(v == "1")
		}
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /_cancelled", func(w http.ResponseWriter, _ *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		_ = json.NewEncoder(w).Encode(cancelled)
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		// Read the body first: the server watches the connection for a close only after that.
		_, _ = io.Copy(io.Discard, r.Body)
		select {
		case <-time.After(time.Duration(delayMs.Load()) * time.Millisecond):
		case <-r.Context().Done():
			mu.Lock()
			cancelled = append(cancelled, r.Header.Get("X-Podd-Request-Id"))
			mu.Unlock()
			return
		}
		if fail.Load() {
			http.Error(w, "injected failure", http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"pod":%q,"n":1,"timeoutMs":%q}`, host, r.Header.Get("X-Podd-Timeout-Ms"))
	})
	return mux
}

func mergeHandler(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Answers []struct {
			JSON struct {
				Pod string `json:"pod"`
				N   int    `json:"n"`
			} `json:"json"`
		} `json:"answers"`
		Missing []struct {
			Shard  string `json:"shard"`
			Reason string `json:"reason"`
		} `json:"missing"`
	}
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	out := struct {
		Pods    []string `json:"pods"`
		Sum     int      `json:"sum"`
		Missing []string `json:"missing"`
	}{Pods: []string{}, Missing: []string{}}
	for _, a := range in.Answers {
		out.Pods = append(out.Pods, a.JSON.Pod)
		out.Sum += a.JSON.N
	}
	for _, m := range in.Missing {
		out.Missing = append(out.Missing, m.Shard+"="+m.Reason)
	}
	slices.Sort(out.Pods)
	slices.Sort(out.Missing)
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(out)
}
