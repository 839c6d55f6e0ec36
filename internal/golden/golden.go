package golden

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Tensor is a row-major tensor of float64.
type Tensor struct {
	Shape []int     `json:"shape"`
	Data  []float64 `json:"data"`
}

// Scalar returns the tensor's first value.
func (t Tensor) Scalar() float64 {
	if len(t.Data) == 0 {
		return math.NaN()
	}
	return t.Data[0]
}

// Case is one reference vector.
type Case struct {
	Name       string            `json:"name"`
	Op         string            `json:"op"`
	Params     map[string]any    `json:"params"`
	Inputs     map[string]Tensor `json:"inputs"`
	Upstream   *Tensor           `json:"upstream"`
	Outputs    map[string]Tensor `json:"outputs"`
	Grads      map[string]Tensor `json:"grads"`
	StateAfter map[string]Tensor `json:"state_after"`
}

// Float returns a numeric parameter.
func (c Case) Float(key string) (float64, bool) {
	v, ok := c.Params[key].(float64)
	return v, ok
}

// String returns a string parameter.
func (c Case) String(key string) string {
	s, _ := c.Params[key].(string)
	return s
}

// File is one golden file.
type File struct {
	Version   int    `json:"version"`
	Generator string `json:"generator"`
	Cases     []Case `json:"cases"`
}

// Dir finds ../shared/golden relative to the repository root (the nearest
// directory above the working directory that holds go.mod with the tapegrad
// module line).
func Dir() (string, error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for d := wd; ; d = filepath.Dir(d) {
		if b, err := os.ReadFile(filepath.Join(d, "go.mod")); err == nil && strings.Contains(string(b), "module github.com/tapegrad/tapegrad\n") {
			return filepath.Join(d, "..", "shared", "golden"), nil
		}
		if filepath.Dir(d) == d {
			return "", fmt.Errorf("golden: no tapegrad go.mod above %s", wd)
		}
	}
}

// Read loads a golden file by base name ("activations.json").
func Read(name string) (*File, error) {
	dir, err := Dir()
	if err != nil {
		return nil, err
	}
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		return nil, err
	}
	var f File
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("golden: %s: %w", name, err)
	}
	return &f, nil
}

// Load reads a golden file for a test, failing it when the file is missing
// or malformed: golden files are part of the project's contract.
func Load(t testing.TB, name string) *File {
	t.Helper()
	f, err := Read(name)
	if err != nil {
		t.Fatalf("golden: %v", err)
	}
	if len(f.Cases) == 0 {
		t.Fatalf("golden: %s has no cases", name)
	}
	return f
}

// Close reports whether got is within tol·max(1, |want|) of want, the
// golden README's suggested comparison. NaNs match NaNs.
func Close(got, want, tol float64) bool {
	if math.IsNaN(want) {
		return math.IsNaN(got)
	}
	return math.Abs(got-want) <= tol*math.Max(1, math.Abs(want))
}

// CloseRel reports whether got is within tol·|want| (+tiny absolute slack
// for values near zero) of want: the float32 comparison.
func CloseRel(got, want, tol, abs float64) bool {
	if math.IsNaN(want) {
		return math.IsNaN(got)
	}
	return math.Abs(got-want) <= tol*math.Abs(want)+abs
}

// Compare checks got against want element-wise with Close and reports the
// first few mismatches as test errors labelled with what.
func Compare(t testing.TB, what string, got []float64, want Tensor, tol float64) {
	t.Helper()
	if len(got) != len(want.Data) {
		t.Errorf("%s: got %d values, want %d (shape %v)", what, len(got), len(want.Data), want.Shape)
		return
	}
	bad := 0
	for i := range got {
		if !Close(got[i], want.Data[i], tol) {
			if bad < 3 {
				t.Errorf("%s[%d] = %.17g, want %.17g (tol %g)", what, i, got[i], want.Data[i], tol)
			}
			bad++
		}
	}
	if bad > 3 {
		t.Errorf("%s: %d mismatches in all", what, bad)
	}
}
