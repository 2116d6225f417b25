package adapter

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
)

// httpSource GETs a JSON document and maps it with the rules' JSONPaths.
type httpSource struct {
	url    string
	rules  []MetricRule
	descs  []*prometheus.Desc
	client *http.Client
}

func newHTTPSource(url, kind, name string, rules []MetricRule) *httpSource {
	s := &httpSource{url: url, rules: rules, client: &http.Client{Transport: &http.Transport{
		DisableKeepAlives: true, MaxResponseHeaderBytes: 64 << 10, Proxy: nil,
	}}}
	for _, r := range rules {
		s.descs = append(s.descs, prometheus.NewDesc(r.Name, r.Help, r.labelNames,
			prometheus.Labels{labelKind: kind, labelName: name}))
	}
	return s
}

func (s *httpSource) scrape(ctx context.Context) (*result, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "podd-adapter")
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return nil, fmt.Errorf("GET %s: %s", s.url, resp.Status)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxReplyBytes+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxReplyBytes {
		return nil, fmt.Errorf("GET %s: body over the limit of %d bytes", s.url, maxReplyBytes)
	}
	var doc any
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("GET %s: not JSON: %w", s.url, err)
	}
	samples, errs := applyRules(doc, s.rules)
	res := &result{mappingErrors: errs}
	for _, rs := range samples {
		r := s.rules[rs.rule]
		m, err := prometheus.NewConstMetric(s.descs[rs.rule], r.valueType, rs.value, rs.labels...)
		if err != nil {
			res.mappingErrors = append(res.mappingErrors, fmt.Errorf("%s: %w", r.Name, err))
			continue
		}
		res.metrics = append(res.metrics, m)
	}
	return res, nil
}

// ruleSample is one value that a rule read.
type ruleSample struct {
	rule   int
	labels []string
	value  float64
}

// applyRules evaluates every rule on doc. A path that selects nothing gives no sample (an
// application may omit a field); a node that is not a number (or a numeric string, or a boolean),
// a label path that does not select exactly one scalar, or a second sample with the same labels
// is a mapping error, and that sample is left out.
func applyRules(doc any, rules []MetricRule) ([]ruleSample, []error) {
	var out []ruleSample
	var errs []error
	for i := range rules {
		r := &rules[i]
		seen := map[string]bool{}
		for node := range r.path.Select(doc).All() {
			v := node
			if r.value != nil {
				nodes := r.value.Select(node)
				if len(nodes) != 1 {
					errs = append(errs, fmt.Errorf("%s: value %s selected %d nodes, not 1", r.Name, r.Value, len(nodes)))
					continue
				}
				v = nodes[0]
			}
			f, err := toFloat(v)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", r.Name, err))
				continue
			}
			labels := make([]string, len(r.labelNames))
			ok := true
			for j, p := range r.labelPaths {
				if p == nil {
					labels[j] = r.labelConsts[j]
					continue
				}
				nodes := p.Select(node)
				if len(nodes) != 1 {
					errs = append(errs, fmt.Errorf("%s: label %s selected %d nodes, not 1", r.Name, r.labelNames[j], len(nodes)))
					ok = false
					break
				}
				if labels[j], err = toLabel(nodes[0]); err != nil {
					errs = append(errs, fmt.Errorf("%s: label %s: %w", r.Name, r.labelNames[j], err))
					ok = false
					break
				}
			}
			if !ok {
				continue
			}
			key := strings.Join(labels, "\xff")
			if seen[key] {
				errs = append(errs, fmt.Errorf("%s: two samples with labels %v", r.Name, labels))
				continue
			}
			seen[key] = true
			out = append(out, ruleSample{rule: i, labels: labels, value: f})
		}
	}
	return out, errs
}

func toFloat(v any) (float64, error) {
	switch x := v.(type) {
	case float64:
		return x, nil
	case bool:
		if x {
			return 1, nil
		}
		return 0, nil
	case string:
		f, err := strconv.ParseFloat(strings.TrimSpace(x), 64)
		if err != nil {
			return 0, fmt.Errorf("%q is not a number", truncate(x, 40))
		}
		return f, nil
	case json.Number:
		return x.Float64()
	case nil:
		return 0, fmt.Errorf("null is not a number")
	}
	return 0, fmt.Errorf("a %s is not a number", jsonType(v))
}

func toLabel(v any) (string, error) {
	switch x := v.(type) {
	case string:
		return x, nil
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64), nil
	case bool:
		return strconv.FormatBool(x), nil
	case nil:
		return "", nil
	}
	return "", fmt.Errorf("a %s is not a label value", jsonType(v))
}

func jsonType(v any) string {
	switch v.(type) {
	case map[string]any:
		return "object"
	case []any:
		return "array"
	}
	return fmt.Sprintf("%T", v)
}
