package wire

import (
	"math"
	"net/url"
	"reflect"
	"testing"
	"time"

	"github.com/containerd/errdefs"

	"github.com/podd-dev/podd/pkg/logs"
)

func TestLogOptions(t *testing.T) {
	now := time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)
	at := func(t time.Time) *time.Time { return &t }
	n := func(v int64) *int64 { return &v }
	tests := []struct {
		query   string
		want    logs.Request
		wantErr string
	}{
		{"", logs.Request{}, ""},
		{"container=app&follow=true&previous=1&timestamps=true&tailLines=10", logs.Request{
			Container: "app", Follow: true, Previous: true, Timestamps: true, TailLines: n(10),
		}, ""},
		{"tailLines=0", logs.Request{TailLines: n(0)}, ""},
		{"sinceSeconds=300", logs.Request{SinceTime: at(now.Add(-5 * time.Minute))}, ""},
		{"sinceTime=2024-05-01T09:00:00Z", logs.Request{SinceTime: at(now.Add(-time.Hour))}, ""},
		{"sinceSeconds=99999999999999", logs.Request{SinceTime: at(now.Add(-math.MaxInt64 / time.Second * time.Second))}, ""},
		{"follow=true&cursor=true&after=2/2024-05-01T09:00:00.000000001Z", logs.Request{
			Follow: true, Cursor: true, After: "2/2024-05-01T09:00:00.000000001Z",
		}, ""},
		{"after=0/", logs.Request{After: "0/"}, ""},
		{"follow=yes", logs.Request{}, `follow "yes": want true or false`},
		{"tailLines=-1", logs.Request{}, `tailLines "-1": want a whole number, 0 or more`},
		{"sinceSeconds=0", logs.Request{}, `sinceSeconds "0": want a whole number of seconds above 0`},
		{"sinceTime=yesterday", logs.Request{}, `sinceTime "yesterday": want an RFC 3339 time`},
		{"sinceSeconds=1&sinceTime=2024-05-01T09:00:00Z", logs.Request{}, "sinceSeconds and sinceTime: give one of them"},
		{"after=x", logs.Request{}, `after: log cursor "x": want <attempt>/<timestamp> as a log stream gave it: invalid argument`},
		{"after=1/2024-05-01T09:00:00Z", logs.Request{}, `after: log cursor "1/2024-05-01T09:00:00Z": want <attempt>/<timestamp> as a log stream gave it: invalid argument`},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			q, _ := url.ParseQuery(tt.query)
			got, err := LogRequest(q, now)
			if tt.wantErr != "" {
				if !errdefs.IsInvalidArgument(err) || err.Error() != tt.wantErr {
					t.Errorf("LogRequest(%s) = %v, want the invalid error %q", tt.query, err, tt.wantErr)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tt.want) {
				t.Errorf("LogRequest(%s) = %+v, %v\nwant %+v", tt.query, got, err, tt.want)
			}
		})
	}
}
