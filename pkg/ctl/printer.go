package ctl

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"gopkg.in/yaml.v3"
)

// Format is an output format: table (the default), wide (a table with more columns), json or yaml.
type Format string

const (
	FormatTable Format = "table"
	FormatWide  Format = "wide"
	FormatJSON  Format = "json"
	FormatYAML  Format = "yaml"
)

// ParseFormat checks the value of -o/--output; "" is table.
func ParseFormat(s string) (Format, error) {
	switch f := Format(s); f {
	case "":
		return FormatTable, nil
	case FormatTable, FormatWide, FormatJSON, FormatYAML:
		return f, nil
	}
	return "", Usagef("--output %q: want table, wide, json or yaml", s)
}

// structured tells whether f prints objects rather than tables and messages.
func (f Format) structured() bool { return f == FormatJSON || f == FormatYAML }

// Table is rows of cells under a header.
type Table struct {
	Header []string
	Rows   [][]string
}

// Print is podctl's one printer: obj as JSON or YAML (the same field names), or the table that
// table builds for the table and wide formats (wide tells which).
func Print(w io.Writer, f Format, obj any, table func(wide bool) Table) error {
	switch f {
	case FormatJSON:
		b, err := json.MarshalIndent(obj, "", "    ")
		if err != nil {
			return err
		}
		_, err = w.Write(append(b, '\n'))
		return err
	case FormatYAML:
		b, err := toYAML(obj)
		if err != nil {
			return err
		}
		_, err = w.Write(b)
		return err
	}
	return writeTable(w, table(f == FormatWide))
}

func writeTable(w io.Writer, t Table) error {
	// kubectl's spacing.
	tw := tabwriter.NewWriter(w, 6, 4, 3, ' ', 0)
	fmt.Fprintln(tw, strings.Join(t.Header, "\t"))
	for _, row := range t.Rows {
		cells := make([]string, len(row))
		for i, c := range row {
			if c == "" {
				c = "<none>"
			}
			cells[i] = c
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t"))
	}
	return tw.Flush()
}

// toYAML renders obj's JSON as YAML, so that both carry the same field names in the same order.
func toYAML(obj any) ([]byte, error) {
	j, err := json.Marshal(obj)
	if err != nil {
		return nil, err
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(j, &doc); err != nil {
		return nil, err
	}
	blockStyle(&doc)
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(&doc); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// blockStyle drops the flow style and quotes that JSON brought; the encoder quotes again whatever
// would otherwise read as another type.
func blockStyle(n *yaml.Node) {
	n.Style = 0
	for _, c := range n.Content {
		blockStyle(c)
	}
}
