package manifest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"gopkg.in/yaml.v3"

	"github.com/podd-dev/podd/pkg/object"
	"github.com/podd-dev/podd/pkg/pod"
)

// Decode reads a manifest of Pods: one or more Kubernetes v1 Pods in YAML or JSON, as YAML
// documents separated by "---" (empty documents are skipped). Decoding is strict: a field podd
// does not know, a Kubernetes field podd does not implement (unless its value asks for what podd
// does anyway, see unsupportedFields), a value of the wrong type and a duplicate key are all
// errors. The pods are then defaulted (SetDefaults) and validated (Validate). A document of
// another kind is refused: DecodeObjects reads those.
//
// Server-populated fields (metadata.uid, metadata.creationTimestamp, metadata.resourceVersion,
// status, ...) are accepted and dropped: podd assigns a pod's identity, not its manifest.
//
// Decode returns every pod or none. Its error joins one *FieldError per problem, each naming the
// manifest line and the field's Kubernetes path ("line 12: spec.containers[1].imagee: unknown
// field"), sorted by line; each satisfies errdefs.IsInvalidArgument.
func Decode(data []byte) ([]*pod.Pod, error) {
	objs, lines, err := decodeAll(data)
	if err != nil {
		return nil, err
	}
	var (
		pods []*pod.Pod
		errs []error
	)
	for i, o := range objs {
		p, ok := o.(*pod.Pod)
		if !ok {
			errs = append(errs, &pod.FieldError{Line: lines[i], Field: "kind", Detail: fmt.Sprintf("a %s is not a Pod: this takes only Pods; podctl apply takes every kind", o.GetKind())})
			continue
		}
		pods = append(pods, p)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if len(pods) == 0 {
		return nil, &pod.FieldError{Detail: "the manifest holds no Pod"}
	}
	return pods, nil
}

// DecodeObjects reads a manifest of any of the kinds podd runs — Pods and the kinds of
// pkg/object — as strictly as Decode reads Pods, defaulting and validating each. It returns every
// object, in the manifest's order, or none.
func DecodeObjects(data []byte) ([]object.Object, error) {
	objs, _, err := decodeAll(data)
	if err != nil {
		return nil, err
	}
	if len(objs) == 0 {
		return nil, &pod.FieldError{Detail: "the manifest holds no object"}
	}
	return objs, nil
}

func decodeAll(data []byte) ([]object.Object, []int, error) {
	var (
		objs  []object.Object
		lines []int
		errs  []error
	)
	if err := checkTokens(data); err != nil {
		return nil, nil, err
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var doc yaml.Node
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			// The parser cannot resynchronise after a syntax error: stop at the first one.
			errs = append(errs, syntaxError(data, err))
			break
		}
		if len(doc.Content) == 0 || isNull(resolve(doc.Content[0])) {
			continue
		}
		o, docErrs := decodeDocument(doc.Content[0])
		for _, e := range docErrs {
			errs = append(errs, e)
		}
		if o != nil {
			objs = append(objs, o)
			lines = append(lines, resolve(doc.Content[0]).Line)
		}
	}
	if len(errs) > maxErrors {
		more := len(errs) - maxErrors
		errs = append(errs[:maxErrors], &pod.FieldError{Detail: fmt.Sprintf("and %d more problems", more)})
	}
	if len(errs) > 0 {
		return nil, nil, errors.Join(errs...)
	}
	return objs, lines, nil
}

// maxErrors bounds the report: past a few screens more detail helps nobody, and a large broken
// manifest must not produce a larger answer.
const maxErrors = 100

var (
	yamlLineRE      = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)
	unknownAnchorRE = regexp.MustCompile(`^yaml: unknown anchor '(.*)' referenced$`)
)

// parserProblems are the messages of yaml.v3's parser, which numbers lines from 0 where its
// scanner numbers them from 1 (go-yaml/yaml#205).
var parserProblems = []string{
	"did not find expected <stream-start>", "did not find expected <document start>",
	"found undefined tag handle", "did not find expected node content",
	"did not find expected '-' indicator", "did not find expected key",
	"did not find expected ',' or ']'", "did not find expected ',' or '}'",
	"found duplicate %YAML directive", "found incompatible YAML document", "found duplicate %TAG directive",
}

// syntaxError gives yaml.v3's message a line. yaml.v3 leaves the line out when it is the first
// one, and for an unknown anchor or bytes its reader refuses: find those ourselves.
func syntaxError(data []byte, err error) *pod.FieldError {
	msg := err.Error()
	if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		if slices.Contains(parserProblems, m[2]) {
			line = problemLine(data, line+1, m[2])
		}
		// A problem found at the end of the input is reported on the line after the last.
		lines := bytes.Count(bytes.TrimSuffix(data, []byte("\n")), []byte("\n")) + 1
		return &pod.FieldError{Line: min(line, lines), Detail: "invalid YAML: " + m[2]}
	}
	line := unreadableLine(data)
	if m := unknownAnchorRE.FindStringSubmatch(msg); m != nil {
		if i := bytes.Index(data, []byte("*"+m[1])); i >= 0 {
			line = bytes.Count(data[:i], []byte("\n")) + 1
		}
	}
	return &pod.FieldError{Line: line, Detail: "invalid YAML: " + strings.TrimPrefix(msg, "yaml: ")}
}

// problemLine narrows a parser error down to its line. The parser reports where the enclosing
// collection starts (for a mis-indented key deep in a pod, the line of "spec:"); the first prefix
// of the input, from that line on, that fails with the same problem ends on the offending line.
func problemLine(data []byte, start int, problem string) int {
	// Each try parses the prefix again: bound the lines tried and the bytes parsed.
	const maxLines, maxBytes = 500, 8 << 20
	var lineEnds []int
	for i, b := range data {
		if b == '\n' || i == len(data)-1 {
			lineEnds = append(lineEnds, i+1)
		}
	}
	parsed := 0
	for line := start; line < start+maxLines && line <= len(lineEnds) && parsed < maxBytes; line++ {
		prefix := data[:lineEnds[line-1]]
		parsed += len(prefix)
		if err := parses(prefix); err != nil {
			if m := yamlLineRE.FindStringSubmatch(err.Error()); m != nil && m[2] == problem {
				return line
			}
		}
	}
	return start
}

func parses(data []byte) error {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var doc yaml.Node
		if err := dec.Decode(&doc); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
	}
}

// unreadableLine is the line of the first byte YAML does not allow (invalid UTF-8 or a control
// character), or 1.
func unreadableLine(data []byte) int {
	for i := 0; i < len(data); {
		r, size := utf8.DecodeRune(data[i:])
		if (r == utf8.RuneError && size <= 1) || (r < ' ' && r != '\t' && r != '\n' && r != '\r') || r == 0x7f {
			return bytes.Count(data[:i], []byte("\n")) + 1
		}
		i += size
	}
	return 1
}

// maxTokens bounds a manifest before it is parsed: yaml.v3 builds the whole node tree of a
// document (some 200 bytes a node) before podd can look at it, so a flat 16 MiB manifest of short
// keys cost over a gigabyte. checkTokens counts, in one pass and no memory, more than yaml.v3 can
// make nodes of: every word after a space or line break, and three for every character that can
// open a collection or stand for an empty value (, [ { : ? -), quoted or not. Real pods count a
// few thousand; a manifest just under the limit allocates some 60 to 80 MiB in all (measured).
const maxTokens = 250_000

func checkTokens(data []byte) *pod.FieldError {
	if n, line := scanTokens(data, maxTokens); n > maxTokens {
		return &pod.FieldError{Line: line, Detail: fmt.Sprintf(
			"the manifest is too large to decode: more than %d YAML tokens (words, and 3 for each of , [ { : ? -) by this line; podd's limit bounds the memory decoding takes", maxTokens)}
	}
	return nil
}

func countTokens(data []byte) int {
	n, _ := scanTokens(data, -1)
	return n
}

// scanTokens counts data's tokens, stopping past stop (unless -1), and the line it stopped on.
func scanTokens(data []byte, stop int) (int, int) {
	tokens, line, boundary := 1, 1, true
	for _, c := range data {
		switch c {
		case '\n':
			line++
			boundary = true
		case ' ', '\t', '\r':
			boundary = true
		case ',', '[', '{', ':', '?', '-':
			tokens += 3
			boundary = true
		case ']', '}':
			boundary = true
		default:
			if boundary {
				tokens++
			}
			boundary = false
		}
		if stop >= 0 && tokens > stop {
			break
		}
	}
	return tokens, line
}

// maxDocumentNodes bounds the work spent on one document: through aliases a few lines of YAML can
// stand for billions of nodes ("billion laughs").
const maxDocumentNodes = 1_000_000

func decodeDocument(root *yaml.Node) (object.Object, []*pod.FieldError) {
	root = resolve(root)
	if root.Kind != yaml.MappingNode {
		return nil, []*pod.FieldError{{Line: root.Line, Detail: "a manifest document must be a mapping (a Pod or another kind), got " + describe(root)}}
	}
	if _, err := expandedSize(root, map[*yaml.Node]int{}); err != nil {
		return nil, []*pod.FieldError{err}
	}
	apiVersion, kind := typeMeta(root)
	if kind != "Pod" && kind != "" {
		return decodeObject(root, apiVersion, kind)
	}

	d := &decoder{lines: map[string]int{"": root.Line}}
	var p pod.Pod
	d.value(root, reflect.ValueOf(&p).Elem(), "", "")

	// A manifest of another kind would drown in unknown fields: say only what it is.
	var typeMeta pod.ErrorList
	pod.CheckTypeMeta(&p, &typeMeta)
	if len(typeMeta) > 0 {
		d.errs = slices.DeleteFunc(d.errs, func(e *pod.FieldError) bool { return e.Field != "apiVersion" && e.Field != "kind" })
		return nil, d.finish(typeMeta)
	}

	pod.SetDefaults(&p)
	if errs := d.finish(pod.ValidateFields(&p)); len(errs) > 0 {
		return nil, errs
	}
	return &p, nil
}

// typeMeta reads apiVersion and kind off a document's mapping, where they are plain strings.
func typeMeta(root *yaml.Node) (apiVersion, kind string) {
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := resolve(root.Content[i]), resolve(root.Content[i+1])
		if v.Kind != yaml.ScalarNode {
			continue
		}
		switch k.Value {
		case "apiVersion":
			apiVersion = v.Value
		case "kind":
			kind = v.Value
		}
	}
	return apiVersion, kind
}

// decodeObject decodes a document of one of pkg/object's kinds. Its fields are looked up in
// unsupportedFields under the kind's own root (kindRoot), and a pod template's under a Pod's.
func decodeObject(root *yaml.Node, apiVersion, kind string) (object.Object, []*pod.FieldError) {
	line := func(key string) int {
		for i := 0; i+1 < len(root.Content); i += 2 {
			if resolve(root.Content[i]).Value == key {
				return root.Content[i].Line
			}
		}
		return root.Line
	}
	k, ok := object.Lookup(apiVersion, kind)
	if !ok {
		if known, found := object.KindOf(kind); found {
			return nil, []*pod.FieldError{{Line: line("apiVersion"), Field: "apiVersion", Detail: fmt.Sprintf("Unsupported value: %q: a %s is %q", apiVersion, kind, known.APIVersion)}}
		}
		if kind == "List" {
			return nil, []*pod.FieldError{{Line: line("kind"), Field: "kind", Detail: `Unsupported value: "List": write each object as its own YAML document, separated by ---`}}
		}
		var names []string
		names = append(names, "Pod")
		for _, k := range object.Kinds {
			names = append(names, k.Kind)
		}
		return nil, []*pod.FieldError{{Line: line("kind"), Field: "kind", Detail: fmt.Sprintf("Unsupported value: %q: podd runs %s", kind, strings.Join(names, ", "))}}
	}
	d := &decoder{lines: map[string]int{"": root.Line}, secret: k.Kind == "Secret"}
	o := k.New()
	d.value(root, reflect.ValueOf(o).Elem(), "", kindRoot(kind))
	if len(d.errs) > 0 {
		return nil, d.finish(nil)
	}
	k.Default(o)
	if errs := d.finish(k.Validate(o)); len(errs) > 0 {
		return nil, errs
	}
	return o, nil
}

// kindRoot is the generic path of a kind's document in unsupportedFields: "deployment" for a
// Deployment's fields ("deployment.spec.paused"), where a Pod's are at the root.
func kindRoot(kind string) string { return strings.ToLower(kind) }

// expandedSize counts the nodes of n with aliases expanded, and refuses an alias that contains
// itself (yaml.v3 builds such a cycle without complaint) or a document that grows too large.
func expandedSize(n *yaml.Node, sizes map[*yaml.Node]int) (int, *pod.FieldError) {
	const inProgress = -1
	if s, ok := sizes[n]; ok {
		if s == inProgress {
			return 0, &pod.FieldError{Line: n.Line, Detail: "invalid YAML: an alias refers to a node that contains it"}
		}
		return s, nil
	}
	sizes[n] = inProgress
	children := n.Content
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		children = []*yaml.Node{n.Alias}
	}
	total := 1
	for _, c := range children {
		s, err := expandedSize(c, sizes)
		if err != nil {
			return 0, err
		}
		total += s
		if total > maxDocumentNodes {
			return 0, &pod.FieldError{Line: n.Line, Detail: fmt.Sprintf("the document expands to more than %d YAML nodes through its aliases (the limit on aliases' expansion)", maxDocumentNodes)}
		}
	}
	sizes[n] = total
	return total, nil
}

// decoder walks a document's node tree along the Go types, by their json tags.
type decoder struct {
	errs []*pod.FieldError
	// lines maps the Kubernetes path of every field seen to its line, so that a validation
	// error, which knows only the path, can be placed in the manifest.
	lines map[string]int
	// secret: the document is a Secret, whose data and stringData values no message shows.
	secret bool
}

// shown is a scalar's value as a message may show it: "<secret>" for a Secret's value.
func (d *decoder) shown(field, value string) string {
	if d.secret && (strings.HasPrefix(field, "data[") || strings.HasPrefix(field, "stringData[")) {
		return "<secret>"
	}
	return pod.Truncate(value)
}

func (d *decoder) fail(line int, field, format string, args ...any) {
	d.errs = append(d.errs, &pod.FieldError{Line: line, Field: field, Detail: fmt.Sprintf(format, args...)})
}

// finish places the validation errors in the manifest and merges them with the decoding errors.
// A validation error on or around a field that did not decode is noise (a refused volume source
// leaves a volume with none) and is dropped.
func (d *decoder) finish(validation pod.ErrorList) []*pod.FieldError {
	// failed holds the fields that did not decode; around, those and every field containing one.
	failed, around := map[string]bool{}, map[string]bool{}
	for _, e := range d.errs {
		if e.Field == "" {
			continue
		}
		failed[e.Field] = true
		for f := e.Field; f != "" && !around[f]; f = parentPath(f) {
			around[f] = true
		}
	}
	errs := d.errs
	for _, v := range validation {
		if around[v.Field] || slices.ContainsFunc(ancestors(v.Field), func(f string) bool { return failed[f] }) {
			continue
		}
		v.Line = d.line(v.Field)
		errs = append(errs, v)
	}
	// An aliased node is walked once per alias; report each of its problems once.
	seen := map[pod.FieldError]bool{}
	errs = slices.DeleteFunc(errs, func(e *pod.FieldError) bool {
		dup := seen[*e]
		seen[*e] = true
		return dup
	})
	sort.SliceStable(errs, func(i, j int) bool { return errs[i].Line < errs[j].Line })
	return errs
}

// ancestors lists the fields that contain field: spec.containers[0], spec.containers, spec.
func ancestors(field string) []string {
	var out []string
	for f := parentPath(field); f != ""; f = parentPath(f) {
		out = append(out, f)
	}
	return out
}

// line is the line of the field, or of its nearest ancestor present in the manifest (a required
// field that is missing is reported where its parent is).
func (d *decoder) line(field string) int {
	for {
		if l, ok := d.lines[field]; ok {
			return l
		}
		if field == "" {
			return 0
		}
		field = parentPath(field)
	}
}

func parentPath(field string) string {
	if strings.HasSuffix(field, "]") {
		if i := strings.LastIndex(field, "["); i >= 0 {
			return field[:i]
		}
	}
	if i := strings.LastIndex(field, "."); i >= 0 {
		return field[:i]
	}
	return ""
}

func joinPath(parent, name string) string {
	if parent == "" {
		return name
	}
	return parent + "." + name
}

// shapeRoots are types that other kinds embed: their fields are looked up in unsupportedFields
// as those of the kind they are, a pod template's as a Pod's.
var shapeRoots = map[reflect.Type]string{
	reflect.TypeFor[pod.PodTemplateSpec]():          "",
	reflect.TypeFor[object.PersistentVolumeClaim](): kindRoot("PersistentVolumeClaim"),
}

var (
	quantityType    = reflect.TypeFor[pod.Quantity]()
	timeType        = reflect.TypeFor[time.Time]()
	intOrStringType = reflect.TypeFor[pod.IntOrString]()
)

// value decodes n into v. field is the Kubernetes path ("spec.containers[1].image"); generic is
// the same path with list indices left out ("spec.containers[].image"), as unsupportedFields
// spells it.
func (d *decoder) value(n *yaml.Node, v reflect.Value, field, generic string) {
	n = resolve(n)
	if isNull(n) {
		v.SetZero()
		return
	}
	switch v.Type() {
	case quantityType:
		d.quantity(n, v, field)
		return
	case timeType:
		d.time(n, v, field)
		return
	case intOrStringType:
		d.intOrString(n, v, field)
		return
	}
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		d.value(n, v.Elem(), field, generic)
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			d.fail(n.Line, field, "must be a mapping, got %s", describe(n))
			return
		}
		if root, ok := shapeRoots[v.Type()]; ok {
			generic = root
		}
		d.object(n, v, field, generic)
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			d.fail(n.Line, field, "must be a list, got %s", describe(n))
			return
		}
		itemGeneric := generic + "[]"
		if shape, ok := sameShapes[itemGeneric]; ok {
			itemGeneric = shape
		}
		s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
		for i, item := range n.Content {
			itemField := fmt.Sprintf("%s[%d]", field, i)
			d.lines[itemField] = resolve(item).Line
			d.value(item, s.Index(i), itemField, itemGeneric)
		}
		v.Set(s)
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			d.fail(n.Line, field, "must be a mapping, got %s", describe(n))
			return
		}
		m := reflect.MakeMap(v.Type())
		keyField := func(k string) string { return field + "[" + k + "]" }
		for _, kv := range d.pairs(n, field, keyField) {
			entry := reflect.New(v.Type().Elem()).Elem()
			d.lines[keyField(kv.key.Value)] = kv.key.Line
			d.value(kv.value, entry, keyField(kv.key.Value), generic+"[*]")
			m.SetMapIndex(reflect.ValueOf(kv.key.Value).Convert(v.Type().Key()), entry)
		}
		v.Set(m)
	case reflect.String:
		d.string(n, v, field)
	case reflect.Bool:
		var b bool
		if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!bool" || n.Decode(&b) != nil {
			d.fail(n.Line, field, "must be a boolean (true or false), got %s", describe(n))
			return
		}
		v.SetBool(b)
	case reflect.Int32, reflect.Int64:
		var i int64
		if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!int" || n.Decode(&i) != nil {
			d.fail(n.Line, field, "must be an integer, got %s", describe(n))
			return
		}
		if v.OverflowInt(i) {
			d.fail(n.Line, field, "must be an integer of at most %d bits, got %s", v.Type().Bits(), describe(n))
			return
		}
		v.SetInt(i)
	default:
		panic(fmt.Sprintf("pod: the decoder has no rule for %s (%s)", v.Type(), field))
	}
}

// scalarKinds names YAML's implicit types for messages.
var scalarKinds = map[string]string{"!!int": "the integer", "!!float": "the number", "!!bool": "the boolean"}

func (d *decoder) string(n *yaml.Node, v reflect.Value, field string) {
	if n.Kind != yaml.ScalarNode {
		d.fail(n.Line, field, "must be a string, got %s", describe(n))
		return
	}
	tag := n.ShortTag()
	switch {
	case tag == "!!str" || tag == "!!timestamp":
		v.SetString(n.Value)
	case scalarKinds[tag] != "":
		// Kubernetes refuses these too (env values are the classic case): YAML reads 8080, true
		// and 1.10 as a number, a boolean and 1.1 unless they are quoted.
		d.fail(n.Line, field, "must be a string, got %s %s (quote it to make it a string)", scalarKinds[tag], d.shown(field, n.Value))
	default:
		d.fail(n.Line, field, "must be a string, got a value tagged %s", pod.Truncate(n.Tag))
	}
}

func (d *decoder) quantity(n *yaml.Node, v reflect.Value, field string) {
	text := n.Value
	switch tag := n.ShortTag(); {
	case n.Kind != yaml.ScalarNode:
		d.fail(n.Line, field, "must be a quantity such as \"64Mi\", got %s", describe(n))
		return
	case tag == "!!int":
		// Normalise YAML's spellings of integers (0x10, 1_000) that a quantity does not know.
		var i int64
		if n.Decode(&i) == nil {
			text = strconv.FormatInt(i, 10)
		}
	case tag != "!!str" && tag != "!!float":
		d.fail(n.Line, field, "must be a quantity such as \"64Mi\", got %s", describe(n))
		return
	}
	q, err := pod.ParseQuantity(text)
	if err != nil {
		d.fail(n.Line, field, "Invalid value: %s: %v", pod.Quote(n.Value), err)
		return
	}
	v.Set(reflect.ValueOf(q))
}

func (d *decoder) intOrString(n *yaml.Node, v reflect.Value, field string) {
	var i int64
	switch tag := n.ShortTag(); {
	case n.Kind == yaml.ScalarNode && tag == "!!str":
		v.Set(reflect.ValueOf(pod.IntOrString{StrVal: n.Value, IsStr: true}))
	case n.Kind == yaml.ScalarNode && tag == "!!int" && n.Decode(&i) == nil && i == int64(int32(i)):
		v.Set(reflect.ValueOf(pod.IntOrString{IntVal: int32(i)}))
	default:
		d.fail(n.Line, field, "must be an integer of at most 32 bits or a string, got %s", describe(n))
	}
}

func (d *decoder) time(n *yaml.Node, v reflect.Value, field string) {
	tag := n.ShortTag()
	if n.Kind == yaml.ScalarNode && (tag == "!!str" || tag == "!!timestamp") {
		if t, err := time.Parse(time.RFC3339, n.Value); err == nil {
			v.Set(reflect.ValueOf(t))
			return
		}
	}
	d.fail(n.Line, field, "must be an RFC 3339 time such as \"2006-01-02T15:04:05Z\", got %s", describe(n))
}

// object decodes a mapping into a struct, refusing what the struct does not implement.
func (d *decoder) object(n *yaml.Node, v reflect.Value, field, generic string) {
	fields := jsonFields(v.Type())
	for _, kv := range d.pairs(n, field, func(k string) string { return joinPath(field, k) }) {
		name := kv.key.Value
		fieldPath, genericPath := joinPath(field, name), joinPath(generic, name)
		u, known := unsupportedFields[genericPath]
		if !known {
			u, known = kindUnsupported[genericPath]
		}
		if known && u.dropped {
			continue
		}
		if i, ok := fields[name]; ok {
			d.lines[fieldPath] = kv.key.Line
			d.value(kv.value, v.Field(i), fieldPath, genericPath)
			continue
		}
		switch {
		case !known:
			d.fail(kv.key.Line, fieldPath, "unknown field%s", suggestion(name, generic, fields))
		case !u.accepts(kv.value):
			d.fail(kv.key.Line, fieldPath, "%s", u.refusal())
		}
	}
}

// jsonFields maps the JSON names of a struct's fields to their indices.
func jsonFields(t reflect.Type) map[string]int {
	fields := map[string]int{}
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		if name != "" && name != "-" {
			fields[name] = i
		}
	}
	return fields
}

type keyValue struct{ key, value *yaml.Node }

// pairs lists a mapping's entries, with YAML merge keys ("<<: *defaults") expanded, and reports
// keys that are not scalars or appear twice. keyField gives the path of an entry.
func (d *decoder) pairs(n *yaml.Node, field string, keyField func(string) string) []keyValue {
	var (
		out    []keyValue
		merges []*yaml.Node
		seen   = map[string]int{} // key → line
	)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := resolve(n.Content[i]), n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			d.fail(k.Line, field, "keys must be strings, got %s", describe(k))
			continue
		}
		if k.ShortTag() == "!!merge" {
			merges = append(merges, v)
			continue
		}
		if line, dup := seen[k.Value]; dup {
			d.fail(k.Line, keyField(k.Value), "duplicate key (first set on line %d)", line)
			continue
		}
		seen[k.Value] = k.Line
		out = append(out, keyValue{k, v})
	}
	// Explicit keys win over merged ones, and earlier merged mappings over later ones.
	for _, m := range merges {
		m = resolve(m)
		sources := []*yaml.Node{m}
		if m.Kind == yaml.SequenceNode {
			sources = m.Content
		}
		for _, src := range sources {
			src = resolve(src)
			if src.Kind != yaml.MappingNode {
				d.fail(src.Line, field, "a merge key (<<) must refer to a mapping, got %s", describe(src))
				continue
			}
			for _, kv := range d.pairs(src, field, keyField) {
				if _, set := seen[kv.key.Value]; !set {
					seen[kv.key.Value] = kv.key.Line
					out = append(out, kv)
				}
			}
		}
	}
	return out
}

// resolve follows aliases (expandedSize has ruled out cycles).
func resolve(n *yaml.Node) *yaml.Node {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	}
	return pod.Quote(n.Value)
}

// suggestion points at the known or unsupported field a misspelt name most likely means.
func suggestion(name, generic string, fields map[string]int) string {
	if len(name) > 64 {
		return "" // no field name is that long, and the distance costs len(name) per candidate
	}
	candidates := slices.Collect(func(yield func(string) bool) {
		for f := range fields {
			yield(f)
		}
		for path := range unsupportedFields {
			if parentPath(path) == generic && !strings.HasSuffix(path, "]") {
				yield(path[strings.LastIndex(path, ".")+1:])
			}
		}
	})
	slices.Sort(candidates) // a stable choice among equally close names
	best, bestDistance := "", len(name)
	for _, c := range candidates {
		if dist := editDistance(strings.ToLower(name), strings.ToLower(c)); dist < bestDistance {
			best, bestDistance = c, dist
		}
	}
	// Beyond a third of the name's length a "did you mean" is a guess.
	if best == "" || bestDistance*3 > len(name) {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

// editDistance is Levenshtein's distance, in bytes.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// unsupported says how the decoder treats a Kubernetes field that podd does not implement.
// Refusing it by name tells the user that podd would not do what the manifest asks, where a
// silent drop (podman's way) would start a pod that is not the one described.
type unsupported struct {
	// harmless lists values, as written in YAML, that ask for what podd does anyway: mostly
	// Kubernetes' defaults, which kubectl writes out. null is always harmless, and so are {},
	// [] and "" unless the field is a choice.
	harmless []string
	// choice marks a field whose mere presence selects a feature (a volume source, an env
	// source): even an empty value asks for something podd lacks.
	choice bool
	// dropped marks a field that the API server populates and a manifest copies back (kubectl get
	// -o yaml): any value is accepted and discarded, because podd assigns it itself.
	dropped bool
	// hint points at what podd offers instead.
	hint string
}

func (u unsupported) accepts(n *yaml.Node) bool {
	n = resolve(n)
	switch {
	case isNull(n):
		return true
	case !u.choice && isEmpty(n):
		return true
	case n.Kind == yaml.ScalarNode:
		value := n.Value
		if n.ShortTag() == "!!bool" {
			value = strings.ToLower(value)
		}
		return slices.Contains(u.harmless, value)
	}
	return false
}

func (u unsupported) refusal() string {
	msg := "field is not supported by podd"
	if len(u.harmless) > 0 {
		quoted := make([]string, len(u.harmless))
		for i, h := range u.harmless {
			quoted[i] = strconv.Quote(h)
		}
		msg += "; accepted only as " + strings.Join(quoted, ", ") + ", which is what podd does"
	}
	if u.hint != "" {
		msg += "; " + u.hint
	}
	return msg
}

// isEmpty reports whether n holds no value: "", [], or a mapping of empty values ({}, and what
// kubectl writes for an empty struct, such as resources: {limits: {}}).
func isEmpty(n *yaml.Node) bool {
	n = resolve(n)
	switch n.Kind {
	case yaml.ScalarNode:
		return isNull(n) || (n.ShortTag() == "!!str" && n.Value == "")
	case yaml.SequenceNode:
		return len(n.Content) == 0
	case yaml.MappingNode:
		for i := 1; i < len(n.Content); i += 2 {
			if !isEmpty(n.Content[i]) {
				return false
			}
		}
		return true
	}
	return false
}

var (
	refused = unsupported{}
	choice  = unsupported{choice: true}
	dropped = unsupported{dropped: true}
)

func harmless(values ...string) unsupported { return unsupported{harmless: values} }

// sameShapes maps a list to another whose items have the same Kubernetes type, so that
// unsupportedFields lists a Container's fields once, under spec.containers[].
var sameShapes = map[string]string{"spec.initContainers[]": "spec.containers[]"}

// unsupportedFields lists the fields of Kubernetes' v1 Pod (as of Kubernetes 1.34) that podd's
// types lack, by generic path ("[]" stands for any list index). A field that is in neither the
// types nor this table is an unknown field. Fields implemented in types.go take precedence over
// this table (except dropped ones); TestUnsupportedFieldsTable keeps the two apart.
var unsupportedFields = map[string]unsupported{
	"status": dropped,

	// ObjectMeta
	"metadata.uid":                        dropped,
	"metadata.creationTimestamp":          dropped,
	"metadata.resourceVersion":            dropped,
	"metadata.generation":                 dropped,
	"metadata.selfLink":                   dropped,
	"metadata.managedFields":              dropped,
	"metadata.generateName":               refused,
	"metadata.deletionGracePeriodSeconds": refused,
	"metadata.ownerReferences":            dropped,
	"metadata.clusterName":                refused,

	// PodSpec
	"spec.ephemeralContainers":   refused,
	"spec.activeDeadlineSeconds": refused,
	"spec.nodeSelector":          refused,
	// podd has no API server to give a token for: a pod that asks for one would find none.
	"spec.automountServiceAccountToken": {harmless: []string{"false"}, hint: "podd has no API server and mounts no service account token"},
	"spec.hostPID":                      harmless("false"),
	"spec.hostIPC":                      harmless("false"),
	"spec.hostUsers":                    harmless("true"),
	"spec.imagePullSecrets":             refused,
	"spec.setHostnameAsFQDN":            harmless("false"),
	"spec.hostnameOverride":             refused,
	"spec.hostAliases":                  refused,
	"spec.affinity":                     refused,
	"spec.schedulerName":                harmless("default-scheduler"),
	"spec.tolerations":                  refused,
	"spec.topologySpreadConstraints":    refused,
	"spec.schedulingGates":              refused,
	"spec.schedulingGroup":              refused,
	"spec.priorityClassName":            refused,
	// All podd's pods have priority 0, so no pod can preempt another whatever it may do.
	"spec.priority":         harmless("0"),
	"spec.preemptionPolicy": harmless("PreemptLowerPriority", "Never"),
	"spec.readinessGates":   refused,
	"spec.runtimeClassName": refused,
	// Service links are environment variables for the namespace's Services; podd has no
	// Services, so they come out empty whether enabled or not.
	"spec.enableServiceLinks": harmless("true", "false"),
	"spec.overhead":           refused,
	"spec.os":                 refused,
	"spec.resourceClaims":     refused,
	"spec.resources.claims":   refused,

	// Container
	"spec.containers[].resources.claims":   refused,
	"spec.containers[].resizePolicy":       refused,
	"spec.containers[].restartPolicyRules": refused,
	"spec.containers[].volumeDevices":      refused,
	// podd reads no termination message, so only the default place and policy ask for nothing.
	"spec.containers[].terminationMessagePath":   harmless("/dev/termination-log"),
	"spec.containers[].terminationMessagePolicy": harmless("File"),

	// Lifecycle. Kubernetes keeps tcpSocket in LifecycleHandler only for compatibility and refuses it.
	"spec.containers[].lifecycle.stopSignal":          refused,
	"spec.containers[].lifecycle.postStart.tcpSocket": choice,
	"spec.containers[].lifecycle.preStop.tcpSocket":   choice,

	// EnvVarSource
	"spec.containers[].env[].valueFrom.fileKeyRef": choice,

	// VolumeMount
	"spec.containers[].volumeMounts[].mountPropagation":  harmless("None"),
	"spec.containers[].volumeMounts[].recursiveReadOnly": harmless("Disabled"),
	"spec.containers[].volumeMounts[].subPathExpr":       refused,

	// SecurityContext
	"spec.containers[].securityContext.procMount":       harmless("Default"),
	"spec.containers[].securityContext.seLinuxOptions":  refused,
	"spec.containers[].securityContext.windowsOptions":  refused,
	"spec.containers[].securityContext.appArmorProfile": refused,

	// PodSecurityContext
	"spec.securityContext.seLinuxOptions":           refused,
	"spec.securityContext.windowsOptions":           refused,
	"spec.securityContext.appArmorProfile":          refused,
	"spec.securityContext.sysctls":                  refused,
	"spec.securityContext.fsGroupChangePolicy":      harmless("Always"),
	"spec.securityContext.supplementalGroupsPolicy": harmless("Merge"),
	"spec.securityContext.seLinuxChangePolicy":      refused,

	// Volume sources
	// A projected volume's sources beside configMap, secret and downwardAPI: podd has no
	// service accounts, cluster trust bundles or pod certificates.
	"spec.volumes[].projected.sources[].serviceAccountToken": {choice: true, hint: "podd has no service accounts, and so no tokens; put the token in a Secret"},
	"spec.volumes[].projected.sources[].clusterTrustBundle":  choice,
	"spec.volumes[].projected.sources[].podCertificate":      choice,
	"spec.volumes[].ephemeral":                               choice,
	"spec.volumes[].image":                                   choice,
	"spec.volumes[].csi":                                     choice,
	"spec.volumes[].nfs":                                     choice,
	"spec.volumes[].iscsi":                                   choice,
	"spec.volumes[].fc":                                      choice,
	"spec.volumes[].rbd":                                     choice,
	"spec.volumes[].cephfs":                                  choice,
	"spec.volumes[].glusterfs":                               choice,
	"spec.volumes[].gitRepo":                                 choice,
	"spec.volumes[].flexVolume":                              choice,
	"spec.volumes[].flocker":                                 choice,
	"spec.volumes[].cinder":                                  choice,
	"spec.volumes[].gcePersistentDisk":                       choice,
	"spec.volumes[].awsElasticBlockStore":                    choice,
	"spec.volumes[].azureDisk":                               choice,
	"spec.volumes[].azureFile":                               choice,
	"spec.volumes[].vsphereVolume":                           choice,
	"spec.volumes[].photonPersistentDisk":                    choice,
	"spec.volumes[].portworxVolume":                          choice,
	"spec.volumes[].quobyte":                                 choice,
	"spec.volumes[].scaleIO":                                 choice,
	"spec.volumes[].storageos":                               choice,
}
