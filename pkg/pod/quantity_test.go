package pod

import (
	"encoding/json"
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/containerd/errdefs"
	"gopkg.in/yaml.v3"
)

func TestParseQuantity(t *testing.T) {
	tests := []struct {
		in           string
		value, milli int64
		sign         int
	}{
		{"0", 0, 0, 0},
		{"1", 1, 1000, 1},
		{"+2", 2, 2000, 1},
		{"-1", -1, -1000, -1},
		{"100m", 1, 100, 1},
		{"500m", 1, 500, 1},
		{"1500m", 2, 1500, 1},
		{"1.5", 2, 1500, 1},
		{"-1.5", -2, -1500, -1},
		{"0.1", 1, 100, 1},
		{".5", 1, 500, 1},
		{"5.", 5, 5000, 1},
		{"1.G", 1000000000, 1000000000000, 1},
		{"1n", 1, 1, 1},
		{"1u", 1, 1, 1},
		{"1500u", 1, 2, 1},
		{"1k", 1000, 1000000, 1},
		{"1M", 1000000, 1000000000, 1},
		{"1G", 1000000000, 1000000000000, 1},
		{"1T", 1000000000000, 1000000000000000, 1},
		{"1P", 1000000000000000, 1000000000000000000, 1},
		{"1E", 1000000000000000000, math.MaxInt64, 1},
		{"10E", math.MaxInt64, math.MaxInt64, 1},
		{"-10E", math.MinInt64, math.MinInt64, -1},
		{"1Ki", 1024, 1024000, 1},
		{"64Mi", 64 << 20, 64 << 20 * 1000, 1},
		{"1.5Gi", 1536 << 20, 1536 << 20 * 1000, 1},
		{"1Ti", 1 << 40, 1 << 40 * 1000, 1},
		{"1Pi", 1 << 50, 1 << 50 * 1000, 1},
		{"1Ei", 1 << 60, math.MaxInt64, 1},
		{"8Ei", math.MaxInt64, math.MaxInt64, 1},
		{"0.5Ki", 512, 512000, 1},
		{"1e3", 1000, 1000000, 1},
		{"1E3", 1000, 1000000, 1},
		{"1e+3", 1000, 1000000, 1},
		{"12e6", 12000000, 12000000000, 1},
		{"1e-3", 1, 1, 1},
		{"1.5e1", 15, 15000, 1},
		{"0e9", 0, 0, 0},
		{"000123", 123, 123000, 1},
		{"0.000Ki", 0, 0, 0},
		{"1e999999999", math.MaxInt64, math.MaxInt64, 1},
		{"1e-999999999", 1, 1, 1},
		{"-1e-999999999", -1, -1, -1},
		{"18446744073709551616", math.MaxInt64, math.MaxInt64, 1},
		{"0." + strings.Repeat("0", 1000) + "1", 1, 1, 1},
		{"1" + strings.Repeat("0", 1023), math.MaxInt64, math.MaxInt64, 1},
	}
	for _, tt := range tests {
		q, err := ParseQuantity(tt.in)
		if err != nil {
			t.Errorf("ParseQuantity(%q): %v", tt.in, err)
			continue
		}
		if q.Value() != tt.value || q.MilliValue() != tt.milli || q.Sign() != tt.sign {
			t.Errorf("ParseQuantity(%q) = value %d, milli %d, sign %d; want %d, %d, %d", tt.in, q.Value(), q.MilliValue(), q.Sign(), tt.value, tt.milli, tt.sign)
		}
		if q.String() != tt.in {
			t.Errorf("ParseQuantity(%q).String() = %q", tt.in, q.String())
		}
	}
}

func TestParseQuantityInvalid(t *testing.T) {
	tests := []struct {
		in   string
		want error
	}{
		{"", errQuantityFormat},
		{"abc", errQuantityFormat},
		{"1Gb", errQuantityFormat},
		{"1 Gi", errQuantityFormat},
		{" 1", errQuantityFormat},
		{"--1", errQuantityFormat},
		{"e3", errQuantityFormat},
		{"0x10", errQuantityFormat},
		{"1e1.5", errQuantityFormat},
		{"Ki", errQuantityFormat},
		{".", errQuantityNumeric},
		{"-.", errQuantityNumeric},
		{"1.2.3", errQuantityNumeric},
		{"1ki", errQuantitySuffix},
		{"1KiB", errQuantityFormat},
		{"1e", errQuantitySuffix},
		{"1mi", errQuantitySuffix},
		{"1e99999999999", errQuantitySuffix},
		{"1Mi3", errQuantitySuffix},
		{"1" + strings.Repeat("0", 1024), errQuantityLength},
	}
	for _, tt := range tests {
		_, err := ParseQuantity(tt.in)
		if !errors.Is(err, tt.want) {
			t.Errorf("ParseQuantity(%q) = %v, want %v", tt.in, err, tt.want)
		}
		if !errdefs.IsInvalidArgument(err) {
			t.Errorf("ParseQuantity(%q): %v is not an invalid argument", tt.in, err)
		}
	}
}

func TestMustParseQuantity(t *testing.T) {
	if q := MustParseQuantity("2Gi"); q.Value() != 2<<30 {
		t.Errorf("MustParseQuantity(2Gi) = %d", q.Value())
	}
	defer func() {
		if recover() == nil {
			t.Error("MustParseQuantity of an invalid quantity did not panic")
		}
	}()
	MustParseQuantity("2GB")
}

func TestQuantityZero(t *testing.T) {
	var q Quantity
	if q.String() != "0" || q.Value() != 0 || q.MilliValue() != 0 || q.Sign() != 0 {
		t.Errorf("zero Quantity = %q %d %d %d", q.String(), q.Value(), q.MilliValue(), q.Sign())
	}
}

func TestQuantityJSON(t *testing.T) {
	type holder struct {
		Q  Quantity  `json:"q"`
		P  *Quantity `json:"p,omitempty"`
		Z  Quantity  `json:"z"`
		NP *Quantity `json:"np,omitempty"`
	}
	h := holder{Q: MustParseQuantity("64Mi"), P: new(MustParseQuantity("500m"))}
	data, err := json.Marshal(h)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"q":"64Mi","p":"500m","z":"0"}`; string(data) != want {
		t.Errorf("json.Marshal = %s, want %s", data, want)
	}
	var back holder
	if err := json.Unmarshal(data, &back); err != nil {
		t.Fatal(err)
	}
	if back.Q != h.Q || *back.P != *h.P || back.Z.Value() != 0 {
		t.Errorf("round trip gave %+v", back)
	}

	for in, want := range map[string]int64{`{"q": 1000}`: 1000, `{"q": 1.5}`: 2, `{"q": 1e3}`: 1000, `{"q": "1Ki"}`: 1024, `{"q": null}`: 0} {
		var h holder
		if err := json.Unmarshal([]byte(in), &h); err != nil {
			t.Errorf("json.Unmarshal(%s): %v", in, err)
			continue
		}
		if h.Q.Value() != want {
			t.Errorf("json.Unmarshal(%s) = %d, want %d", in, h.Q.Value(), want)
		}
	}
	for _, in := range []string{`{"q": "1GB"}`, `{"q": true}`, `{"q": {}}`, `{"q": "-"}`} {
		var h holder
		if err := json.Unmarshal([]byte(in), &h); err == nil {
			t.Errorf("json.Unmarshal(%s) = %+v, want an error", in, h.Q)
		}
	}
}

func TestQuantityYAML(t *testing.T) {
	data, err := yaml.Marshal(map[string]Quantity{"sizeLimit": MustParseQuantity("1Gi")})
	if err != nil {
		t.Fatal(err)
	}
	if want := "sizeLimit: 1Gi\n"; string(data) != want {
		t.Errorf("yaml.Marshal = %q, want %q", data, want)
	}
}

func FuzzParseQuantity(f *testing.F) {
	for _, s := range []string{"0", "1.5Gi", "-100m", "1e-3", "1E", ".5", "1e999999999", "12345678901234567890n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		q, err := ParseQuantity(s)
		if err != nil {
			return
		}
		// Rounding away from zero keeps the sign of the value in both accessors.
		if sign(q.Value()) != q.Sign() || sign(q.MilliValue()) != q.Sign() {
			t.Errorf("%q: value %d, milli %d, sign %d", s, q.Value(), q.MilliValue(), q.Sign())
		}
		if q.String() != s {
			t.Errorf("%q: String() = %q", s, q.String())
		}
	})
}

func sign(i int64) int {
	switch {
	case i > 0:
		return 1
	case i < 0:
		return -1
	}
	return 0
}
