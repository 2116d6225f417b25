package daemon

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/coreos/go-systemd/v22/journal"
)

// NewLogHandler is podd's log handler: structured entries in the journal when podd's stderr is
// connected to it (podd runs under systemd), so `journalctl -u podd POD=web` works; plain text
// on w otherwise.
func NewLogHandler(w io.Writer, level slog.Leveler) slog.Handler {
	if ok, _ := journal.StderrIsJournalStream(); ok && journal.Enabled() {
		return &journalHandler{level: level, send: journal.Send}
	}
	return slog.NewTextHandler(w, &slog.HandlerOptions{Level: level})
}

// journalHandler sends each record to the journal with its attributes as fields: pod=web becomes
// POD=web, a group g's attribute a becomes G_A.
type journalHandler struct {
	level  slog.Leveler
	attrs  []slog.Attr // with their group prefix applied
	prefix string
	send   func(message string, priority journal.Priority, vars map[string]string) error
}

func (h *journalHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= h.level.Level() }

func (h *journalHandler) Handle(_ context.Context, r slog.Record) error {
	vars := map[string]string{"SYSLOG_IDENTIFIER": "podd"}
	for _, a := range h.attrs {
		addField(vars, "", a)
	}
	r.Attrs(func(a slog.Attr) bool {
		addField(vars, h.prefix, a)
		return true
	})
	return h.send(r.Message, priority(r.Level), vars)
}

func (h *journalHandler) WithAttrs(as []slog.Attr) slog.Handler {
	c := *h
	c.attrs = append([]slog.Attr(nil), h.attrs...)
	for _, a := range as {
		c.attrs = append(c.attrs, slog.Attr{Key: h.prefix + a.Key, Value: a.Value})
	}
	return &c
}

func (h *journalHandler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	c := *h
	c.prefix = h.prefix + name + "_"
	return &c
}

func addField(vars map[string]string, prefix string, a slog.Attr) {
	v := a.Value.Resolve()
	if v.Kind() == slog.KindGroup {
		for _, g := range v.Group() {
			addField(vars, prefix+a.Key+"_", g)
		}
		return
	}
	if name := fieldName(prefix + a.Key); name != "" {
		vars[name] = fmt.Sprint(v.Any())
	}
}

// fieldName makes a journal field name: upper case letters, digits and underscores, not starting
// with an underscore (those are the journal's own) or a digit.
func fieldName(key string) string {
	name := strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z':
			return r - 'a' + 'A'
		case r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
			return r
		default:
			return '_'
		}
	}, key)
	name = strings.TrimLeft(name, "_0123456789")
	if name == "MESSAGE" || name == "PRIORITY" {
		name = "PODD_" + name
	}
	return name
}

func priority(l slog.Level) journal.Priority {
	switch {
	case l >= slog.LevelError:
		return journal.PriErr
	case l >= slog.LevelWarn:
		return journal.PriWarning
	case l >= slog.LevelInfo:
		return journal.PriInfo
	default:
		return journal.PriDebug
	}
}
