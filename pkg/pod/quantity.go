package pod

import (
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"regexp"
	"strconv"
	"strings"

	"github.com/containerd/errdefs"
)

// Quantity is a Kubernetes resource quantity ("64Mi", "500m", "1G", "1e3"). It keeps the text as
// written, so that a pod reads back the way its manifest said it, and the value it stands for,
// computed exactly once at parse time. The zero Quantity is 0.
type Quantity struct {
	s     string
	value int64 // rounded up, away from zero, clamped to int64
	milli int64 // likewise, in thousandths
	sign  int8
}

// quantityPattern is Kubernetes' own, quoted in its error message so that users who know the
// message from kubectl recognise it.
const quantityPattern = `^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$`

var quantityRE = regexp.MustCompile(quantityPattern)

// quantityError keeps Kubernetes' wording while classifying the error as invalid input.
type quantityError string

func (e quantityError) Error() string { return string(e) }
func (quantityError) Unwrap() error   { return errdefs.ErrInvalidArgument }

const (
	errQuantityFormat  = quantityError("quantities must match the regular expression '" + quantityPattern + "'")
	errQuantityNumeric = quantityError("unable to parse numeric part of quantity")
	errQuantitySuffix  = quantityError("unable to parse quantity's suffix")
	errQuantityLength  = quantityError("quantities longer than 1024 characters are not supported")
)

// maxQuantityLength bounds the cost of parsing: converting n decimal digits takes time quadratic
// in n, and a manifest may be megabytes long. No meaningful quantity comes near it.
const maxQuantityLength = 1024

var decimalSuffixes = map[string]int{"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}

var binarySuffixes = map[string]uint{"Ki": 10, "Mi": 20, "Gi": 30, "Ti": 40, "Pi": 50, "Ei": 60}

// ParseQuantity parses a quantity as Kubernetes does: a signed decimal number followed by a
// decimal SI suffix (n u m k M G T P E), a binary one (Ki Mi Gi Ti Pi Ei) or a decimal exponent
// (e3, E-6). The error wraps errdefs.ErrInvalidArgument.
func ParseQuantity(s string) (Quantity, error) {
	if len(s) > maxQuantityLength {
		return Quantity{}, errQuantityLength
	}
	m := quantityRE.FindStringSubmatch(s)
	if m == nil {
		return Quantity{}, errQuantityFormat
	}
	number, suffix := m[1], m[2]

	negative := false
	switch number[0] {
	case '-':
		negative = true
		number = number[1:]
	case '+':
		number = number[1:]
	}
	whole, frac, _ := strings.Cut(number, ".")
	if whole+frac == "" || strings.Contains(frac, ".") {
		return Quantity{}, errQuantityNumeric
	}
	// The quantity is exactly num/den.
	num, _ := new(big.Int).SetString(whole+frac, 10)
	den := big.NewInt(1)

	if shift, ok := binarySuffixes[suffix]; ok {
		num.Lsh(num, shift)
		den = pow10(len(frac))
	} else {
		exp, ok := decimalSuffixes[suffix]
		if !ok {
			if len(suffix) < 2 || (suffix[0] != 'e' && suffix[0] != 'E') {
				return Quantity{}, errQuantitySuffix
			}
			e, err := strconv.ParseInt(suffix[1:], 10, 32)
			if err != nil {
				return Quantity{}, errQuantitySuffix
			}
			exp = int(e)
		}
		// Bound the power of ten so that "1e999999999" costs nothing: past these bounds every
		// value clamps to the int64 limits or rounds up to the smallest unit, whatever the power.
		shift := max(min(exp-len(frac), 40), -(len(whole) + len(frac) + 13))
		if shift >= 0 {
			num.Mul(num, pow10(shift))
		} else {
			den = pow10(-shift)
		}
	}
	if negative {
		num.Neg(num)
	}

	q := Quantity{s: s, sign: int8(num.Sign())}
	q.value = roundUp(num, den)
	q.milli = roundUp(num.Mul(num, big.NewInt(1000)), den)
	return q, nil
}

// MustParseQuantity is ParseQuantity for literals known to be valid; it panics otherwise.
func MustParseQuantity(s string) Quantity {
	q, err := ParseQuantity(s)
	if err != nil {
		panic(fmt.Sprintf("pod.MustParseQuantity(%q): %v", s, err))
	}
	return q
}

func pow10(n int) *big.Int {
	return new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(n)), nil)
}

// roundUp divides rounding away from zero, as Kubernetes does, so that asking for a sliver of a
// resource never yields none of it; beyond int64 it clamps rather than wrapping around.
func roundUp(num, den *big.Int) int64 {
	q, m := new(big.Int).QuoRem(num, den, new(big.Int))
	if m.Sign() != 0 {
		q.Add(q, big.NewInt(int64(num.Sign())))
	}
	switch {
	case q.IsInt64():
		return q.Int64()
	case q.Sign() > 0:
		return math.MaxInt64
	default:
		return math.MinInt64
	}
}

// Value is the quantity as an integer, rounded up away from zero ("1.5" → 2, "100m" → 1, "1Ki" →
// 1024) and clamped to the int64 range.
func (q Quantity) Value() int64 { return q.value }

// MilliValue is the quantity in thousandths ("500m" → 500, "2" → 2000), rounded up away from zero
// and clamped to the int64 range.
func (q Quantity) MilliValue() int64 { return q.milli }

// Sign is -1, 0 or +1.
func (q Quantity) Sign() int { return int(q.sign) }

// String is the quantity as it was written.
func (q Quantity) String() string {
	if q.s == "" {
		return "0"
	}
	return q.s
}

// MarshalJSON writes the quantity as a string, as Kubernetes does.
func (q Quantity) MarshalJSON() ([]byte, error) {
	return json.Marshal(q.String())
}

// UnmarshalJSON reads a string or, as Kubernetes tolerates, a bare number.
func (q *Quantity) UnmarshalJSON(data []byte) error {
	text := strings.TrimSpace(string(data))
	if text == "null" {
		*q = Quantity{}
		return nil
	}
	if strings.HasPrefix(text, `"`) {
		if err := json.Unmarshal(data, &text); err != nil {
			return err
		}
	}
	parsed, err := ParseQuantity(text)
	if err != nil {
		return err
	}
	*q = parsed
	return nil
}

// MarshalYAML keeps the quantity a scalar when a pod is written as YAML; without it yaml.v3 would
// write an empty mapping for the unexported fields.
func (q Quantity) MarshalYAML() (any, error) {
	return q.String(), nil
}
