package pod

import "strings"

// Expand replaces the $(VAR) references in input the way the kubelet does in env values, command
// and args, so that a Pod behaves the same under podd as on a cluster:
//
//   - $(VAR) becomes VAR's value when mapping knows VAR, and stays as written when it does not;
//   - $$ becomes $, so $$(VAR) is the literal text $(VAR);
//   - a $ before anything else, and a $( that is never closed, stay as written.
//
// The name is everything up to the first ")", whatever it contains: "$(A$(B))" looks up the
// name "A$(B", so references do not nest, and a value is never expanded again.
func Expand(input string, mapping func(string) (string, bool)) string {
	// Most values have no reference at all; returning input spares the copy.
	if !strings.Contains(input, "$") {
		return input
	}
	var b strings.Builder
	b.Grow(len(input))
	for i := 0; i < len(input); i++ {
		// A $ that ends the input has nothing to introduce and is kept.
		if input[i] != '$' || i+1 == len(input) {
			b.WriteByte(input[i])
			continue
		}
		switch next := input[i+1]; next {
		case '$':
			b.WriteByte('$')
			i++
		case '(':
			end := strings.IndexByte(input[i+2:], ')')
			if end < 0 {
				// Unclosed: keep "$(" and go on scanning after it, so that every later "$("
				// is kept as well.
				b.WriteString("$(")
				i++
				continue
			}
			name := input[i+2 : i+2+end]
			if value, ok := mapping(name); ok {
				b.WriteString(value)
			} else {
				b.WriteString(input[i : i+2+end+1])
			}
			i += 2 + end
		default:
			// Not an operator here; the byte after it cannot start one either, so both are
			// copied. Copying a byte at a time is safe for UTF-8, whose continuation bytes
			// are never '$', '(' or ')'.
			b.WriteByte('$')
			b.WriteByte(next)
			i++
		}
	}
	return b.String()
}

// envMapping looks names up in a KEY=VALUE list; when a name appears twice the last entry wins,
// as in the kubelet, which turns the list into a map before it expands command and args.
func envMapping(env []string) func(string) (string, bool) {
	m := make(map[string]string, len(env))
	for _, kv := range env {
		if k, v, ok := strings.Cut(kv, "="); ok {
			m[k] = v
		}
	}
	return func(name string) (string, bool) {
		v, ok := m[name]
		return v, ok
	}
}
