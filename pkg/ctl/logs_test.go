package ctl

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestLogsOptions(t *testing.T) {
	n := func(v int64) *int64 { return &v }
	tests := []struct {
		name      string
		opts      LogsOptions
		wantCall  string // "" for a usage error
		wantUsage string
	}{
		{"defaults", LogsOptions{}, "Logs default/web container=", ""},
		{"tail -1 is all", LogsOptions{Tail: n(-1)}, "Logs default/web container=", ""},
		{"tail", LogsOptions{Tail: n(0), Container: "app", Previous: true, Timestamps: true}, "Logs default/web container=app previous timestamps tail=0", ""},
		{"follow resumes", LogsOptions{Follow: true}, "Logs default/web container= follow cursor", ""},
		{"since-time", LogsOptions{SinceTime: "2024-05-01T10:00:00Z"}, "Logs default/web container= since=2024-05-01T10:00:00Z", ""},
		{"tail below -1", LogsOptions{Tail: n(-2)}, "", "logs: --tail -2: want -1 (all) or more"},
		{"since and since-time", LogsOptions{Since: time.Minute, SinceTime: "2024-05-01T10:00:00Z"}, "", "logs: --since and --since-time: give one of them"},
		{"negative since", LogsOptions{Since: -time.Minute}, "", "logs: --since -1m0s: want a duration above 0, such as 5m"},
		{"bad since-time", LogsOptions{SinceTime: "today"}, "", `logs: --since-time "today": want an RFC 3339 time, such as 2024-05-01T10:00:00Z`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, webPod())
			tt.opts.Namespace, tt.opts.Name = "default", "web"
			err := Logs(t.Context(), e.client, tt.opts, e.streams(""))
			var usage *UsageError
			if tt.wantUsage != "" {
				if !errors.As(err, &usage) || err.Error() != tt.wantUsage {
					t.Errorf("Logs = %v, want the usage error %q", err, tt.wantUsage)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if calls := e.pods.CallLog(); len(calls) != 1 || calls[0] != tt.wantCall {
				t.Errorf("calls %q, want [%q]", calls, tt.wantCall)
			}
		})
	}

	t.Run("since", func(t *testing.T) {
		e := newEnv(t, webPod())
		before := time.Now()
		if err := Logs(t.Context(), e.client, LogsOptions{Namespace: "default", Name: "web", Since: 90 * time.Second}, e.streams("")); err != nil {
			t.Fatal(err)
		}
		call := e.pods.CallLog()[0]
		_, at, _ := strings.Cut(call, "since=")
		since, err := time.Parse(time.RFC3339, at)
		if err != nil || since.Before(before.Add(-91*time.Second)) || since.After(time.Now().Add(-89*time.Second)) {
			t.Errorf("call %q: want since about 90s ago", call)
		}
	})
}
