package ctl

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/podd-dev/podd/pkg/api"
	"github.com/podd-dev/podd/pkg/pod"
)

// EventsOptions are podctl events'.
type EventsOptions struct {
	Namespace     string
	AllNamespaces bool
	// Name is the pod whose events to show; "" shows those of every pod.
	Name string
	// Watch keeps printing new events until ctx ends.
	Watch  bool
	Output Format
}

// eventSource is the From of describe and the SOURCE of the wide table: podd, where Kubernetes
// says kubelet.
const eventSource = "podd"

// Events prints the events of a pod or of the pods of a namespace, as kubectl get events does; with
// Watch, it goes on printing new events (and repeats) as they happen, until ctx ends.
func Events(ctx context.Context, c *api.Client, o EventsOptions, s Streams) error {
	if o.Name != "" && o.AllNamespaces {
		return Usagef("events: the events of a pod cannot be shown across all namespaces: drop --all-namespaces or POD")
	}
	ns := o.Namespace
	if o.AllNamespaces {
		ns = ""
	}
	// The list comes first even with Watch: it fails early for a pod that does not exist, and it
	// sizes the table's columns.
	events, err := c.Events(ctx, ns, o.Name)
	if err != nil {
		return err
	}
	if events == nil {
		events = []pod.Event{}
	}
	table := eventTable(events, o.AllNamespaces)
	if !o.Watch {
		if len(events) == 0 && !o.Output.structured() {
			if o.AllNamespaces {
				fmt.Fprintln(s.Err, "No resources found")
			} else {
				fmt.Fprintf(s.Err, "No resources found in %s namespace.\n", o.Namespace)
			}
			return nil
		}
		return Print(s.Out, o.Output, api.EventList{Items: events}, table)
	}

	var emit func(pod.Event) error
	switch o.Output {
	case FormatJSON:
		// One object a line, for jq and friends.
		enc := json.NewEncoder(s.Out)
		emit = func(e pod.Event) error { return enc.Encode(e) }
	case FormatYAML:
		first := true
		emit = func(e pod.Event) error {
			b, err := toYAML(e)
			if err != nil {
				return err
			}
			if !first {
				b = append([]byte("---\n"), b...)
			}
			first = false
			_, err = s.Out.Write(b)
			return err
		}
	default:
		wide := o.Output == FormatWide
		rows := newRowStream(s.Out, table(wide))
		// Events to come are mostly wider than the first ones: room for repeats and warnings
		// keeps the columns in place.
		rows.atLeast(map[string]int{"LAST SEEN": len("10m (x10 over 1h)"), "TYPE": len(pod.EventWarning)})
		emit = func(e pod.Event) error {
			return rows.write(eventTable([]pod.Event{e}, o.AllNamespaces)(wide).Rows[0])
		}
	}
	// The watch sends the events that exist again before the new ones.
	return c.WatchEvents(ctx, ns, o.Name, emit)
}

// eventTable is the table of kubectl get events: LAST SEEN, TYPE, REASON, OBJECT, MESSAGE; wide
// adds kubectl's SUBOBJECT (the container's field path), SOURCE, FIRST SEEN and COUNT.
func eventTable(events []pod.Event, withNamespace bool) func(wide bool) Table {
	return func(wide bool) Table {
		var t Table
		if withNamespace {
			t.Header = append(t.Header, "NAMESPACE")
		}
		t.Header = append(t.Header, "LAST SEEN", "TYPE", "REASON", "OBJECT")
		if wide {
			t.Header = append(t.Header, "SUBOBJECT", "SOURCE")
		}
		t.Header = append(t.Header, "MESSAGE")
		if wide {
			t.Header = append(t.Header, "FIRST SEEN", "COUNT")
		}
		for _, e := range events {
			var row []string
			if withNamespace {
				row = append(row, e.InvolvedObject.Namespace)
			}
			row = append(row, lastSeen(e), e.Type, e.Reason, eventObject(e.InvolvedObject))
			if wide {
				row = append(row, e.InvolvedObject.FieldPath, eventSource)
			}
			row = append(row, oneLine(e.Message))
			if wide {
				row = append(row, age(&e.FirstTimestamp), fmt.Sprint(e.Count))
			}
			t.Rows = append(t.Rows, row)
		}
		return t
	}
}

// lastSeen is kubectl's LAST SEEN: the age of the last occurrence, and for repeats how many
// there were since the first: 10s (x3 over 5m).
func lastSeen(e pod.Event) string {
	if e.Count > 1 {
		return fmt.Sprintf("%s (x%d over %s)", age(&e.LastTimestamp), e.Count, age(&e.FirstTimestamp))
	}
	return age(&e.LastTimestamp)
}

// eventObject is kubectl's OBJECT: kind/name in lower case, pod/web.
func eventObject(o pod.ObjectReference) string {
	if o.Name == "" {
		return ""
	}
	kind := o.Kind
	if kind == "" {
		kind = "Pod"
	}
	return strings.ToLower(kind) + "/" + o.Name
}

// oneLine keeps a message on its row of a table.
func oneLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	for i, l := range lines {
		lines[i] = strings.TrimSpace(l)
	}
	return strings.ReplaceAll(strings.Join(lines, " "), "\t", " ")
}

// rowStream prints the rows of a table one at a time, as they come, aligned as writeTable aligns
// a whole table: its columns are as wide as those of the table it starts from, and widen when a
// row needs it. The header goes out with the first row.
type rowStream struct {
	w       io.Writer
	header  []string
	widths  []int
	started bool
}

func newRowStream(w io.Writer, t Table) *rowStream {
	rs := &rowStream{w: w, header: t.Header}
	rs.fit(t.Header)
	for _, row := range t.Rows {
		rs.fit(tableCells(row))
	}
	return rs
}

// atLeast widens the columns named in the header to at least the given widths.
func (rs *rowStream) atLeast(widths map[string]int) {
	for i, h := range rs.header {
		rs.widths[i] = max(rs.widths[i], widths[h])
	}
}

func (rs *rowStream) fit(cells []string) {
	for i, c := range cells {
		if i >= len(rs.widths) {
			rs.widths = append(rs.widths, 0)
		}
		rs.widths[i] = max(rs.widths[i], utf8.RuneCountInString(c))
	}
}

func (rs *rowStream) write(row []string) error {
	row = tableCells(row)
	rs.fit(row)
	var b strings.Builder
	if !rs.started {
		rs.started = true
		rs.line(&b, rs.header)
	}
	rs.line(&b, row)
	_, err := io.WriteString(rs.w, b.String())
	return err
}

// line pads as writeTable's tabwriter does: 3 spaces after the widest cell, columns at least 6 wide,
// the last column not padded.
func (rs *rowStream) line(b *strings.Builder, cells []string) {
	for i, c := range cells {
		b.WriteString(c)
		if i < len(cells)-1 {
			b.WriteString(strings.Repeat(" ", max(rs.widths[i]+3, 6)-utf8.RuneCountInString(c)))
		}
	}
	b.WriteByte('\n')
}

// tableCells shows empty cells as writeTable does.
func tableCells(row []string) []string {
	out := make([]string, len(row))
	for i, c := range row {
		if c == "" {
			c = "<none>"
		}
		out[i] = c
	}
	return out
}

// eventAge is the Age of describe's Events table: the first occurrence's, and for repeats the
// last one's: 10s (x3 over 5m).
func eventAge(e pod.Event) string {
	if e.Count > 1 {
		return lastSeen(e)
	}
	return age(&e.FirstTimestamp)
}
