package api

import (
	"errors"
	"math"
	"net/url"
	"reflect"
	"testing"
	"time"

	"github.com/containerd/errdefs"

	"github.com/podd-dev/podd/pkg/supervisor"
)

func TestLogOptions(t *testing.T) {
	now := time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)
	at := func(t time.Time) *time.Time { return &t }
	n := func(v int64) *int64 { return &v }
	tests := []struct {
		query   string
		want    supervisor.LogOptions
		wantErr string
	}{
		{"", supervisor.LogOptions{}, ""},
		{"container=app&follow=true&previous=1&timestamps=true&tailLines=10", supervisor.LogOptions{
			Container: "app", Follow: true, Previous: true, Timestamps: true, TailLines: n(10),
		}, ""},
		{"tailLines=0", supervisor.LogOptions{TailLines: n(0)}, ""},
		{"sinceSeconds=300", supervisor.LogOptions{SinceTime: at(now.Add(-5 * time.Minute))}, ""},
		{"sinceTime=2024-05-01T09:00:00Z", supervisor.LogOptions{SinceTime: at(now.Add(-time.Hour))}, ""},
		{"sinceSeconds=99999999999999", supervisor.LogOptions{SinceTime: at(now.Add(-math.MaxInt64 / time.Second * time.Second))}, ""},
		{"follow=true&cursor=true&after=2/2024-05-01T09:00:00.000000001Z", supervisor.LogOptions{
			Follow: true, Cursor: true, After: "2/2024-05-01T09:00:00.000000001Z",
		}, ""},
		{"after=0/", supervisor.LogOptions{After: "0/"}, ""},
		{"follow=yes", supervisor.LogOptions{}, `follow "yes": want true or false`},
		{"tailLines=-1", supervisor.LogOptions{}, `tailLines "-1": want a whole number, 0 or more`},
		{"sinceSeconds=0", supervisor.LogOptions{}, `sinceSeconds "0": want a whole number of seconds above 0`},
		{"sinceTime=yesterday", supervisor.LogOptions{}, `sinceTime "yesterday": want an RFC 3339 time`},
		{"sinceSeconds=1&sinceTime=2024-05-01T09:00:00Z", supervisor.LogOptions{}, "sinceSeconds and sinceTime: give one of them"},
		{"after=x", supervisor.LogOptions{}, `after: log cursor "x": want <attempt>/<timestamp> as a log stream gave it: invalid argument`},
		{"after=1/2024-05-01T09:00:00Z", supervisor.LogOptions{}, `after: log cursor "1/2024-05-01T09:00:00Z": want <attempt>/<timestamp> as a log stream gave it: invalid argument`},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			q, _ := url.ParseQuery(tt.query)
			got, err := logOptions(q, now)
			if tt.wantErr != "" {
				var apiErr *Error
				if !errors.As(err, &apiErr) || !errdefs.IsInvalidArgument(err) || err.Error() != tt.wantErr {
					t.Errorf("logOptions(%s) = %v, want the invalid error %q", tt.query, err, tt.wantErr)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tt.want) {
				t.Errorf("logOptions(%s) = %+v, %v\nwant %+v", tt.query, got, err, tt.want)
			}
		})
	}
}
