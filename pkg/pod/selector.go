package pod

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// LabelSelector is Kubernetes' metav1.LabelSelector: every matchLabels pair and every expression
// must hold. An empty selector matches everything; a nil one nothing (as Kubernetes' workloads
// never have a nil one after validation).
type LabelSelector struct {
	MatchLabels      map[string]string          `json:"matchLabels,omitempty"`
	MatchExpressions []LabelSelectorRequirement `json:"matchExpressions,omitempty"`
}

// LabelSelectorRequirement is one matchExpressions item.
type LabelSelectorRequirement struct {
	Key      string   `json:"key"`
	Operator string   `json:"operator"`
	Values   []string `json:"values,omitempty"`
}

// Selector operators.
const (
	SelectorIn           = "In"
	SelectorNotIn        = "NotIn"
	SelectorExists       = "Exists"
	SelectorDoesNotExist = "DoesNotExist"
)

// Matches says whether labels satisfy the selector.
func (s *LabelSelector) Matches(labels map[string]string) bool {
	if s == nil {
		return false
	}
	for k, v := range s.MatchLabels {
		if got, ok := labels[k]; !ok || got != v {
			return false
		}
	}
	for _, r := range s.MatchExpressions {
		v, ok := labels[r.Key]
		switch r.Operator {
		case SelectorIn:
			if !ok || !slices.Contains(r.Values, v) {
				return false
			}
		case SelectorNotIn:
			if ok && slices.Contains(r.Values, v) {
				return false
			}
		case SelectorExists:
			if !ok {
				return false
			}
		case SelectorDoesNotExist:
			if ok {
				return false
			}
		default:
			return false
		}
	}
	return true
}

// IsEmpty: the selector selects nothing in particular (Kubernetes refuses that for workloads).
func (s *LabelSelector) IsEmpty() bool {
	return s == nil || (len(s.MatchLabels) == 0 && len(s.MatchExpressions) == 0)
}

// String writes the selector as kubectl's -l flag spells it.
func (s *LabelSelector) String() string {
	if s == nil {
		return ""
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(s.MatchLabels)) {
		parts = append(parts, k+"="+s.MatchLabels[k])
	}
	for _, r := range s.MatchExpressions {
		switch r.Operator {
		case SelectorIn, SelectorNotIn:
			parts = append(parts, fmt.Sprintf("%s %s (%s)", r.Key, strings.ToLower(r.Operator), strings.Join(r.Values, ",")))
		case SelectorExists:
			parts = append(parts, r.Key)
		case SelectorDoesNotExist:
			parts = append(parts, "!"+r.Key)
		}
	}
	return strings.Join(parts, ",")
}

// ValidateSelector checks a workload's selector as Kubernetes does: present, not empty, with
// valid keys, values and operators, and matching the template's labels.
func ValidateSelector(s *LabelSelector, templateLabels map[string]string, field string) ErrorList {
	var errs ErrorList
	if s.IsEmpty() {
		errs.required(field, "")
		return errs
	}
	for _, k := range slices.Sorted(maps.Keys(s.MatchLabels)) {
		f := field + ".matchLabels[" + k + "]"
		for _, msg := range qualifiedNameErrors(k) {
			errs.invalid(f, k, msg)
		}
		for _, msg := range labelValueErrors(s.MatchLabels[k]) {
			errs.invalid(f, s.MatchLabels[k], msg)
		}
	}
	for i, r := range s.MatchExpressions {
		f := fmt.Sprintf("%s.matchExpressions[%d]", field, i)
		for _, msg := range qualifiedNameErrors(r.Key) {
			errs.invalid(f+".key", r.Key, msg)
		}
		switch r.Operator {
		case SelectorIn, SelectorNotIn:
			if len(r.Values) == 0 {
				errs.required(f+".values", "must be specified when `operator` is 'In' or 'NotIn'")
			}
		case SelectorExists, SelectorDoesNotExist:
			if len(r.Values) > 0 {
				errs.forbidden(f+".values", "may not be specified when `operator` is 'Exists' or 'DoesNotExist'")
			}
		default:
			errs.unsupported(f+".operator", r.Operator, SelectorIn, SelectorNotIn, SelectorExists, SelectorDoesNotExist)
		}
	}
	if len(errs) == 0 && !s.Matches(templateLabels) {
		errs.invalid("spec.template.metadata.labels", templateLabels, "`selector` does not match template `labels`")
	}
	return errs
}

// ValidateObjectMeta checks the metadata of an object of any kind as checkMetadata checks a pod's.
func ValidateObjectMeta(m *ObjectMeta) ErrorList {
	var errs ErrorList
	p := &Pod{Metadata: *m}
	checkMetadata(p, &errs)
	return errs
}

// Errors made by other kinds' validation, with Kubernetes' phrasing.
func (l *ErrorList) Required(field, detail string)             { l.required(field, detail) }
func (l *ErrorList) Invalid(field string, value any, d string) { l.invalid(field, value, d) }
func (l *ErrorList) Forbidden(field, detail string)            { l.forbidden(field, detail) }
func (l *ErrorList) Duplicate(field string, value any)         { l.duplicate(field, value) }
func (l *ErrorList) NotSupported(field string, value any, supported ...string) {
	l.unsupported(field, value, supported...)
}

// CheckDNS1123Label and CheckDNS1123Subdomain check a name, as Kubernetes does.
func (l *ErrorList) CheckDNS1123Label(field, value string) { checkDNS1123Label(l, field, value) }
func (l *ErrorList) CheckDNS1123Subdomain(field, value string) {
	checkDNS1123Subdomain(l, field, value)
}

// ParseSelector reads kubectl's -l syntax: comma-separated requirements, each `k=v`, `k==v`,
// `k!=v`, `k`, `!k`, `k in (a,b)` or `k notin (a,b)`.
func ParseSelector(s string) (*LabelSelector, error) {
	sel := &LabelSelector{}
	s = strings.TrimSpace(s)
	for len(s) > 0 {
		// A requirement ends at a comma outside parentheses.
		end, depth := len(s), 0
		for i, r := range s {
			if r == '(' {
				depth++
			} else if r == ')' {
				depth--
			} else if r == ',' && depth == 0 {
				end = i
				break
			}
		}
		req := strings.TrimSpace(s[:end])
		s = strings.TrimSpace(strings.TrimPrefix(s[end:], ","))
		if req == "" {
			return nil, fmt.Errorf("invalid selector: an empty requirement")
		}
		var r LabelSelectorRequirement
		switch {
		case strings.HasPrefix(req, "!"):
			r = LabelSelectorRequirement{Key: strings.TrimSpace(req[1:]), Operator: SelectorDoesNotExist}
		case strings.Contains(req, "!="):
			k, v, _ := strings.Cut(req, "!=")
			r = LabelSelectorRequirement{Key: strings.TrimSpace(k), Operator: SelectorNotIn, Values: []string{strings.TrimSpace(v)}}
		case strings.Contains(req, "="):
			k, v, _ := strings.Cut(req, "=")
			v = strings.TrimPrefix(v, "=")
			r = LabelSelectorRequirement{Key: strings.TrimSpace(k), Operator: SelectorIn, Values: []string{strings.TrimSpace(v)}}
		case strings.Contains(req, " in ") || strings.Contains(req, " notin "):
			op, sep := SelectorIn, " in "
			if strings.Contains(req, " notin ") {
				op, sep = SelectorNotIn, " notin "
			}
			k, rest, _ := strings.Cut(req, sep)
			rest = strings.TrimSpace(rest)
			if !strings.HasPrefix(rest, "(") || !strings.HasSuffix(rest, ")") {
				return nil, fmt.Errorf("invalid selector %q: want (value,...) after %s", req, strings.TrimSpace(sep))
			}
			var values []string
			for _, v := range strings.Split(rest[1:len(rest)-1], ",") {
				values = append(values, strings.TrimSpace(v))
			}
			r = LabelSelectorRequirement{Key: strings.TrimSpace(k), Operator: op, Values: values}
		default:
			r = LabelSelectorRequirement{Key: req, Operator: SelectorExists}
		}
		if msgs := qualifiedNameErrors(r.Key); len(msgs) > 0 {
			return nil, fmt.Errorf("invalid selector key %q: %s", r.Key, msgs[0])
		}
		sel.MatchExpressions = append(sel.MatchExpressions, r)
	}
	return sel, nil
}
