package elector

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
)

// Handler serves the elector's API on localhost:
//
//	GET  /                      the first election's status
//	GET  /elections/{name}      an election's status
//	GET  /watch[?election=]     Server-Sent Events of the status's changes
//	POST /becomeLeader[?election=&wait=true]
//	POST /renewLeadership[?election=]
//	POST /resign[?election=]
func (e *Elector) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		e.writeStatus(w, e.cfg.Elections[0])
	})
	mux.HandleFunc("GET /elections/{name}", func(w http.ResponseWriter, r *http.Request) {
		e.writeStatus(w, r.PathValue("name"))
	})
	mux.HandleFunc("GET /watch", func(w http.ResponseWriter, r *http.Request) {
		name, ok := e.election(w, r)
		if !ok {
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		w.Header().Set("Cache-Control", "no-cache")
		w.WriteHeader(http.StatusOK)
		rc := http.NewResponseController(w)
		_ = e.Watch(r.Context(), name, func(st Status) error {
			body, err := json.Marshal(st)
			if err != nil {
				return err
			}
			if _, err := fmt.Fprintf(w, "event: leader\ndata: %s\n\n", body); err != nil {
				return err
			}
			return rc.Flush()
		})
	})
	mux.HandleFunc("POST /becomeLeader", func(w http.ResponseWriter, r *http.Request) {
		name, ok := e.election(w, r)
		if !ok {
			return
		}
		wait := false
		if v := r.URL.Query().Get("wait"); v != "" {
			b, err := strconv.ParseBool(v)
			if err != nil {
				httpError(w, http.StatusBadRequest, fmt.Sprintf("wait: %q is not true or false", v))
				return
			}
			wait = b
		}
		st, err := e.BecomeLeader(r.Context(), name, wait)
		e.answer(w, st, err)
	})
	mux.HandleFunc("POST /renewLeadership", func(w http.ResponseWriter, r *http.Request) {
		if name, ok := e.election(w, r); ok {
			st, err := e.RenewLeadership(r.Context(), name)
			e.answer(w, st, err)
		}
	})
	mux.HandleFunc("POST /ack", func(w http.ResponseWriter, r *http.Request) {
		if name, ok := e.election(w, r); ok {
			acked, err := e.Ack(r.Context(), name)
			if err != nil {
				httpError(w, http.StatusBadGateway, err.Error())
				return
			}
			st, _ := e.Status(name)
			writeJSON(w, http.StatusOK, struct {
				Status
				Acknowledged bool `json:"acknowledged"`
			}{st, acked})
		}
	})
	mux.HandleFunc("POST /resign", func(w http.ResponseWriter, r *http.Request) {
		if name, ok := e.election(w, r); ok {
			st, err := e.Resign(r.Context(), name)
			if err == nil {
				writeJSON(w, http.StatusOK, st)
				return
			}
			e.answer(w, st, err)
		}
	})
	return mux
}

// election is the ?election= of a request, or the first.
func (e *Elector) election(w http.ResponseWriter, r *http.Request) (string, bool) {
	name := r.URL.Query().Get("election")
	if name == "" {
		return e.cfg.Elections[0], true
	}
	if _, ok := e.st[name]; !ok {
		httpError(w, http.StatusNotFound, fmt.Sprintf("election %q: this elector runs %q", name, e.cfg.Elections))
		return "", false
	}
	return name, true
}

func (e *Elector) writeStatus(w http.ResponseWriter, name string) {
	st, ok := e.Status(name)
	if !ok {
		httpError(w, http.StatusNotFound, fmt.Sprintf("election %q: this elector runs %q", name, e.cfg.Elections))
		return
	}
	writeJSON(w, http.StatusOK, st)
}

// answer: 200 with the status when leader, 409 with it when not, 502 when the backend failed.
func (e *Elector) answer(w http.ResponseWriter, st Status, err error) {
	switch {
	case err != nil:
		httpError(w, http.StatusBadGateway, err.Error())
	case st.IsLeader:
		writeJSON(w, http.StatusOK, st)
	default:
		writeJSON(w, http.StatusConflict, st)
	}
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func httpError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, map[string]string{"error": msg})
}
