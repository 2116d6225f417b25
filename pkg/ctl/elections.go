package ctl

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/podd-dev/podd/pkg/api"
	"github.com/podd-dev/podd/pkg/controller/elections"
)

// IsElectionKind says whether a kind as typed names podd's local leader elections.
func IsElectionKind(name string) bool {
	switch strings.ToLower(name) {
	case "election", "elections":
		return true
	}
	return false
}

// getElections is podctl get elections [NAME].
func getElections(ctx context.Context, c *api.Client, o GetOptions, s Streams) error {
	ns := o.Namespace
	if o.AllNamespaces {
		ns = ""
	}
	all, err := c.Elections(ctx, ns)
	if err != nil {
		return err
	}
	views := []elections.View{}
	for _, v := range all {
		if o.Name == "" || v.Name == o.Name {
			views = append(views, v)
		}
	}
	if o.Name != "" && len(views) == 0 {
		return fmt.Errorf("election %q not found in namespace %q", o.Name, o.Namespace)
	}
	if len(views) == 0 && !o.Output.structured() {
		if o.AllNamespaces {
			fmt.Fprintln(s.Err, "No resources found")
		} else {
			fmt.Fprintf(s.Err, "No resources found in %s namespace.\n", o.Namespace)
		}
		return nil
	}
	return Print(s.Out, o.Output, api.ElectionList{Items: views}, func(bool) Table {
		var t Table
		if o.AllNamespaces {
			t.Header = append(t.Header, "NAMESPACE")
		}
		t.Header = append(t.Header, "NAME", "LEADER", "TOKEN", "CANDIDATES", "SINCE")
		for _, v := range views {
			var row []string
			if o.AllNamespaces {
				row = append(row, v.Namespace)
			}
			leader, token, since := "<none>", "<none>", "<none>"
			if v.Leader != "" {
				leader, token, since = v.Leader, strconv.FormatUint(v.Token, 10), age(&v.Since)
			}
			row = append(row, v.Name, leader, token, strconv.Itoa(len(v.Candidates)), since)
			t.Rows = append(t.Rows, row)
		}
		return t
	})
}

// DescribeElection is podctl describe election NAME.
func DescribeElection(ctx context.Context, c *api.Client, namespace, name string, s Streams) error {
	all, err := c.Elections(ctx, namespace)
	if err != nil {
		return err
	}
	for _, v := range all {
		if v.Name == name {
			return describeElection(s.Out, v)
		}
	}
	return fmt.Errorf("election %q not found in namespace %q", name, namespace)
}

func describeElection(w io.Writer, v elections.View) error {
	d := &describer{tw: tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)}
	d.value(0, "Name", v.Name)
	d.value(0, "Namespace", v.Namespace)
	if v.Leader == "" {
		d.value(0, "Leader", "<none>")
	} else {
		d.value(0, "Leader", v.Leader)
		d.value(0, "Token", strconv.FormatUint(v.Token, 10))
		d.value(0, "Since", v.Since.Format(time.RFC3339))
		d.value(0, "Lease Deadline", v.Deadline.Format(time.RFC3339Nano))
	}
	d.value(0, "Last Token", strconv.FormatUint(v.LastToken, 10))
	d.list(0, "Candidates", v.Candidates)
	return d.tw.Flush()
}
