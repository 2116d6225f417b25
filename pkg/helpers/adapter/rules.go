package adapter

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"sort"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/theory/jsonpath"
	"gopkg.in/yaml.v3"
)

// Rules is the --rules file: how the JSON of http sources maps to metrics, and how statsd names
// map to the scheme.
type Rules struct {
	// Kind is the app_kind label of http sources (default "http").
	Kind    string       `yaml:"kind"`
	Metrics []MetricRule `yaml:"metrics"`
	Statsd  []StatsdRule `yaml:"statsd"`
}

// MetricRule makes one metric from a JSON document.
type MetricRule struct {
	Name string `yaml:"name"`
	// Type is gauge (the default) or counter.
	Type string `yaml:"type"`
	Help string `yaml:"help"`
	// Path is an RFC 9535 JSONPath from the document's root; every node it selects is one sample.
	Path string `yaml:"path"`
	// Value, when the nodes Path selects are objects, is a JSONPath from each node (its $) to the
	// number.
	Value string `yaml:"value"`
	// Labels: a value starting with $ is a JSONPath from each selected node to the label's value;
	// anything else is the label's value as written.
	Labels map[string]string `yaml:"labels"`

	path, value *jsonpath.Path
	labelNames  []string
	labelPaths  []*jsonpath.Path // nil: constant
	labelConsts []string
	valueType   prometheus.ValueType
}

// StatsdRule renames the statsd metrics whose name matches.
type StatsdRule struct {
	// Match is a glob on the statsd name: * matches one or more characters other than a dot.
	Match string `yaml:"match"`
	// Name is the metric's name; $1, $2... are what the stars matched.
	Name string `yaml:"name"`
	// Labels are added to the series; their values may use $1, $2...
	Labels map[string]string `yaml:"labels"`

	re *regexp.Regexp
}

var (
	metricNameRE = regexp.MustCompile(`^[a-zA-Z_:][a-zA-Z0-9_:]*$`)
	labelNameRE  = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)
	dollarN      = regexp.MustCompile(`\$(\d+)`)
	kindRE       = regexp.MustCompile(`^[a-z0-9]([a-z0-9_-]{0,62})$`)
)

// LoadRules reads and checks a rules file.
func LoadRules(path string) (*Rules, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--rules: %w", err)
	}
	r, err := ParseRules(data)
	if err != nil {
		return nil, fmt.Errorf("--rules %s: %w", path, err)
	}
	return r, nil
}

// ParseRules decodes a rules document strictly (an unknown key is an error) and checks every rule.
func ParseRules(data []byte) (*Rules, error) {
	var r Rules
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&r); err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	if r.Kind == "" {
		r.Kind = "http"
	} else if !kindRE.MatchString(r.Kind) {
		return nil, fmt.Errorf("kind: %q must be lower-case letters, digits, - or _ (at most 63)", r.Kind)
	}
	seen := map[string]*MetricRule{}
	for i := range r.Metrics {
		m := &r.Metrics[i]
		where := fmt.Sprintf("metrics[%d]", i)
		if err := m.compile(); err != nil {
			return nil, fmt.Errorf("%s: %w", where, err)
		}
		if prev, ok := seen[m.Name]; ok {
			if prev.Type != m.Type {
				return nil, fmt.Errorf("%s.type: %s is already a %s", where, m.Name, prev.Type)
			}
			if prev.Help != m.Help {
				return nil, fmt.Errorf("%s.help: %s already has the help %q", where, m.Name, prev.Help)
			}
		}
		seen[m.Name] = m
	}
	for i := range r.Statsd {
		if err := r.Statsd[i].compile(); err != nil {
			return nil, fmt.Errorf("statsd[%d]: %w", i, err)
		}
	}
	return &r, nil
}

func (m *MetricRule) compile() error {
	if !metricNameRE.MatchString(m.Name) {
		return fmt.Errorf("name: %q is not a Prometheus metric name", m.Name)
	}
	if reservedNames[m.Name] {
		return fmt.Errorf("name: %s is the adapter's own", m.Name)
	}
	switch m.Type {
	case "", "gauge":
		m.Type, m.valueType = "gauge", prometheus.GaugeValue
	case "counter":
		m.valueType = prometheus.CounterValue
	default:
		return fmt.Errorf("type: %q must be gauge or counter", m.Type)
	}
	// A name of the common scheme keeps the scheme's type and help, so that every source serves
	// one family (Prometheus refuses two helps or types for one name).
	if st, ok := schemeStat(m.Name); ok {
		if m.valueType != st.typ {
			return fmt.Errorf("type: %s is a %s in the common scheme", m.Name, typeName(st.typ))
		}
		if m.Help != "" && m.Help != st.help {
			return fmt.Errorf("help: %s is of the common scheme, whose help is %q: leave help out", m.Name, st.help)
		}
		m.Help = st.help
	}
	if m.Help == "" {
		m.Help = m.Name + " (from " + m.Path + ")"
	}
	var err error
	if m.Path == "" {
		return errors.New("path: required (a JSONPath such as $.stats.clients)")
	}
	if m.path, err = jsonpath.Parse(m.Path); err != nil {
		return fmt.Errorf("path: %w", err)
	}
	if m.Value != "" {
		if m.value, err = jsonpath.Parse(m.Value); err != nil {
			return fmt.Errorf("value: %w", err)
		}
	}
	for name := range m.Labels {
		m.labelNames = append(m.labelNames, name)
	}
	sort.Strings(m.labelNames)
	for _, name := range m.labelNames {
		if !labelNameRE.MatchString(name) || strings.HasPrefix(name, "__") {
			return fmt.Errorf("labels: %q is not a label name", name)
		}
		if name == labelKind || name == labelName {
			return fmt.Errorf("labels: %s is set by the adapter", name)
		}
		v := m.Labels[name]
		if strings.HasPrefix(v, "$") {
			p, err := jsonpath.Parse(v)
			if err != nil {
				return fmt.Errorf("labels.%s: %w", name, err)
			}
			m.labelPaths = append(m.labelPaths, p)
			m.labelConsts = append(m.labelConsts, "")
		} else {
			m.labelPaths = append(m.labelPaths, nil)
			m.labelConsts = append(m.labelConsts, v)
		}
	}
	return nil
}

func typeName(t prometheus.ValueType) string {
	if t == prometheus.CounterValue {
		return "counter"
	}
	return "gauge"
}

// typeOf is the type (counter or gauge) that the scheme or a rule gives name.
func (r *Rules) typeOf(name string) (string, bool) {
	if st, ok := schemeStat(name); ok {
		return typeName(st.typ), true
	}
	if r != nil {
		for _, m := range r.Metrics {
			if m.Name == name {
				return m.Type, true
			}
		}
	}
	return "", false
}

// help is the help of a metric that statsd makes: the scheme's or the rules' for their names.
func (r *Rules) help(name, fallback string) string {
	if st, ok := schemeStat(name); ok {
		return st.help
	}
	if r != nil {
		for _, m := range r.Metrics {
			if m.Name == name {
				return m.Help
			}
		}
	}
	return fallback
}

func schemeStat(name string) (stat, bool) {
	for _, st := range scheme {
		if st.name == name {
			return st, true
		}
	}
	return stat{}, false
}

func (s *StatsdRule) compile() error {
	if s.Match == "" {
		return errors.New("match: required (a glob such as myapp.*.requests)")
	}
	if strings.ContainsAny(s.Match, ":|@#\n") {
		return fmt.Errorf("match: %q cannot hold : | @ # or a newline", s.Match)
	}
	expr := "^" + strings.ReplaceAll(regexp.QuoteMeta(s.Match), `\*`, `([^.]+)`) + "$"
	s.re = regexp.MustCompile(expr)
	stars := strings.Count(s.Match, "*")
	check := func(field, v string) error {
		for _, m := range dollarN.FindAllStringSubmatch(v, -1) {
			if n := atoi(m[1]); n < 1 || n > stars {
				return fmt.Errorf("%s: $%s but match has %d stars", field, m[1], stars)
			}
		}
		return nil
	}
	if err := check("name", s.Name); err != nil {
		return err
	}
	if !metricNameRE.MatchString(dollarN.ReplaceAllString(s.Name, "x")) {
		return fmt.Errorf("name: %q is not a Prometheus metric name", s.Name)
	}
	if reservedNames[s.Name] {
		return fmt.Errorf("name: %s is the adapter's own", s.Name)
	}
	for name, v := range s.Labels {
		if !labelNameRE.MatchString(name) || strings.HasPrefix(name, "__") {
			return fmt.Errorf("labels: %q is not a label name", name)
		}
		if name == labelKind || name == labelName {
			return fmt.Errorf("labels: %s is set by the adapter", name)
		}
		if err := check("labels."+name, v); err != nil {
			return err
		}
	}
	// $1 in "app_$1_total" would be read as the group named "1_total": write ${1}.
	braces := func(v string) string { return dollarN.ReplaceAllString(v, "$${$1}") }
	s.Name = braces(s.Name)
	for k, v := range s.Labels {
		s.Labels[k] = braces(v)
	}
	return nil
}

func atoi(s string) int {
	n := 0
	for _, c := range s {
		n = n*10 + int(c-'0')
		if n > 1000 {
			return n
		}
	}
	return n
}
