package ctl

import (
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/podd-dev/podd/pkg/api"
	"github.com/podd-dev/podd/pkg/object"
	"github.com/podd-dev/podd/pkg/pod"
)

// The describers of ConfigMaps and Secrets, and what describe pod shows of a pod's references
// to them. A Secret's values are never printed: describe shows its keys and their sizes, as
// kubectl describe does.

// configDescribers are the kinds describe shows here, by Kind.
var configDescribers = map[string]func(io.Writer, object.Object) error{
	"ConfigMap": func(w io.Writer, o object.Object) error { return describeConfigMap(w, o.(*object.ConfigMap)) },
	"Secret":    func(w io.Writer, o object.Object) error { return describeSecret(w, o.(*object.Secret)) },
}

// DescribeConfig prints a ConfigMap or a Secret (kind as podctl takes it: configmap, cm,
// secret, secrets) as kubectl describe does; ok is false for another kind.
func DescribeConfig(ctx context.Context, c *api.Client, kind, namespace, name string, s Streams) (ok bool, err error) {
	k, found := object.Resolve(kind)
	if !found || configDescribers[k.Kind] == nil {
		return false, nil
	}
	o, err := c.GetObject(ctx, k, namespace, name)
	if err != nil {
		return true, err
	}
	return true, configDescribers[k.Kind](s.Out, o)
}

func describeObjectMeta(d *describer, m *pod.ObjectMeta) {
	d.value(0, "Name", m.Name)
	d.value(0, "Namespace", m.Namespace)
	d.value(0, "Labels", keyValues(m.Labels, "="))
	d.value(0, "Annotations", keyValues(m.Annotations, ": "))
}

func describeConfigMap(w io.Writer, c *object.ConfigMap) error {
	d := &describer{tw: tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)}
	describeObjectMeta(d, &c.Metadata)
	if err := d.tw.Flush(); err != nil {
		return err
	}
	// kubectl prints each value whole under its key, out of the alignment.
	var b strings.Builder
	b.WriteString("\nData\n====\n")
	for _, k := range slices.Sorted(maps.Keys(c.Data)) {
		fmt.Fprintf(&b, "%s:\n----\n%s\n", k, c.Data[k])
	}
	b.WriteString("\nBinaryData\n====\n")
	for _, k := range slices.Sorted(maps.Keys(c.BinaryData)) {
		n, _ := base64.StdEncoding.DecodeString(c.BinaryData[k])
		fmt.Fprintf(&b, "%s: %d bytes\n", k, len(n))
	}
	b.WriteString("\nEvents:  <none>\n")
	_, err := io.WriteString(w, b.String())
	return err
}

func describeSecret(w io.Writer, s *object.Secret) error {
	d := &describer{tw: tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)}
	describeObjectMeta(d, &s.Metadata)
	d.line(0, "")
	d.line(0, "Type:  %s", s.Type)
	d.line(0, "")
	d.line(0, "Data")
	d.line(0, "====")
	sizes := map[string]int{}
	for k, v := range s.Data {
		b, err := base64.StdEncoding.DecodeString(v)
		if err != nil {
			sizes[k] = base64.StdEncoding.DecodedLen(len(v))
			continue
		}
		sizes[k] = len(b)
	}
	for k, v := range s.StringData {
		sizes[k] = len(v)
	}
	for _, k := range slices.Sorted(maps.Keys(sizes)) {
		d.line(0, "%s:\t%d bytes", k, sizes[k])
	}
	return d.tw.Flush()
}

// envConfigRef is describe pod's line of an env taken from a ConfigMap or a Secret (kubectl's
// words); ok is false for another source.
func envConfigRef(e pod.EnvVar) (string, bool) {
	if e.ValueFrom == nil {
		return "", false
	}
	switch r := e.ValueFrom; {
	case r.ConfigMapKeyRef != nil:
		return fmt.Sprintf("%s:\t<set to the key '%s' of config map '%s'>\tOptional: %s", e.Name, r.ConfigMapKeyRef.Key, r.ConfigMapKeyRef.Name, optionalString(r.ConfigMapKeyRef.Optional)), true
	case r.SecretKeyRef != nil:
		return fmt.Sprintf("%s:\t<set to the key '%s' in secret '%s'>\tOptional: %s", e.Name, r.SecretKeyRef.Key, r.SecretKeyRef.Name, optionalString(r.SecretKeyRef.Optional)), true
	}
	return "", false
}

// describeEnvFrom is kubectl's "Environment Variables from" list.
func describeEnvFrom(d *describer, list []pod.EnvFromSource) {
	if len(list) == 0 {
		return
	}
	var lines []string
	for _, ef := range list {
		name, kind, optional := "", "", (*bool)(nil)
		switch {
		case ef.ConfigMapRef != nil:
			name, kind, optional = ef.ConfigMapRef.Name, "ConfigMap", ef.ConfigMapRef.Optional
		case ef.SecretRef != nil:
			name, kind, optional = ef.SecretRef.Name, "Secret", ef.SecretRef.Optional
		default:
			continue
		}
		if ef.Prefix != "" {
			kind += fmt.Sprintf(" with prefix '%s'", ef.Prefix)
		}
		lines = append(lines, fmt.Sprintf("%s\t%s\tOptional: %s", name, kind, optionalString(optional)))
	}
	d.list(2, "Environment Variables from", lines)
}

// describeConfigVolume shows a configMap, secret or projected volume; ok is false for another.
func describeConfigVolume(d *describer, v pod.Volume) bool {
	switch {
	case v.ConfigMap != nil:
		d.value(2, "Type", "ConfigMap (a volume populated by a ConfigMap)")
		d.value(2, "Name", v.ConfigMap.Name)
		d.value(2, "Optional", optionalString(v.ConfigMap.Optional))
	case v.Secret != nil:
		d.value(2, "Type", "Secret (a volume populated by a Secret)")
		d.value(2, "SecretName", v.Secret.SecretName)
		d.value(2, "Optional", optionalString(v.Secret.Optional))
	case v.Projected != nil:
		d.value(2, "Type", "Projected (a volume that contains injected data from multiple sources)")
		for _, s := range v.Projected.Sources {
			switch {
			case s.Secret != nil:
				d.value(2, "SecretName", s.Secret.Name)
				d.value(2, "Optional", optionalString(s.Secret.Optional))
			case s.ConfigMap != nil:
				d.value(2, "ConfigMapName", s.ConfigMap.Name)
				d.value(2, "Optional", optionalString(s.ConfigMap.Optional))
			case s.DownwardAPI != nil:
				d.value(2, "DownwardAPI", "true")
			}
		}
	default:
		return false
	}
	return true
}

// optionalString is kubectl's "Optional: false" (Go's %t, where Ready says True).
func optionalString(b *bool) string { return strconv.FormatBool(b != nil && *b) }
