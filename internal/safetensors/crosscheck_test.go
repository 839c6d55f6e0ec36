package safetensors_test

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"

	nlp "github.com/nlpodyssey/safetensors"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tapegrad/tapegrad/internal/safetensors"
)

// python returns the path of /usr/bin/python3 with numpy, or skips the
// test. (The safetensors Python package is not installed: the snippets
// parse the format by hand, in a few lines, which is the point.)
func python(t *testing.T) string {
	t.Helper()
	const py = "/usr/bin/python3"
	if _, err := os.Stat(py); err != nil {
		t.Skipf("%s not found", py)
	}
	if err := exec.Command(py, "-c", "import numpy").Run(); err != nil {
		t.Skipf("%s has no numpy: %v", py, err)
	}
	return py
}

// pyRead reads a safetensors file with numpy and prints, as JSON, the
// metadata and, per tensor, its numpy dtype, shape and values as
// float.hex strings (exact, and NaN and ±Inf survive).
const pyRead = `
import json, struct, sys
import numpy as np
buf = open(sys.argv[1], "rb").read()
(n,) = struct.unpack("<Q", buf[:8])
header = json.loads(buf[8:8 + n].decode("utf-8"))
data = buf[8 + n:]
out = {"metadata": header.pop("__metadata__", {}), "tensors": {}}
types = {"F32": "<f4", "F64": "<f8"}
for name, info in header.items():
    b, e = info["data_offsets"]
    a = np.frombuffer(data[b:e], dtype=types[info["dtype"]]).reshape(info["shape"])
    out["tensors"][name] = {"dtype": str(a.dtype), "shape": list(a.shape),
                            "values": [float(v).hex() for v in a.ravel()]}
print(json.dumps(out))
`

// pyWrite writes a safetensors file with numpy and struct, tensors in name
// order, and prints the values it wrote as float.hex strings.
const pyWrite = `
import json, struct, sys
import numpy as np
arrays = {
    "w": (np.arange(6, dtype=np.float32).reshape(2, 3) / np.float32(7)),
    "b": np.array([-0.0, np.inf, 1e-40, 3.25], dtype=np.float32),
    "s": np.array(2.0 ** -1074, dtype=np.float64),
    "v": np.linspace(-1, 1, 5, dtype=np.float64),
}
header, blobs, off = {"__metadata__": {"framework": "numpy"}}, [], 0
for name in sorted(arrays):
    a = arrays[name]
    raw = a.astype(a.dtype.newbyteorder("<")).tobytes()
    header[name] = {"dtype": {"float32": "F32", "float64": "F64"}[str(a.dtype)],
                    "shape": list(a.shape), "data_offsets": [off, off + len(raw)]}
    blobs.append(raw)
    off += len(raw)
h = json.dumps(header).encode("utf-8")
h += b" " * (-len(h) % 8)
with open(sys.argv[1], "wb") as f:
    f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))
print(json.dumps({name: [float(v).hex() for v in a.ravel()] for name, a in arrays.items()}))
`

// hexFloats parses float.hex strings.
func hexFloats(t *testing.T, ss []string) []float64 {
	t.Helper()
	out := make([]float64, len(ss))
	for i, s := range ss {
		v, err := strconv.ParseFloat(s, 64)
		require.NoError(t, err, "%q", s)
		out[i] = v
	}
	return out
}

func sameBits(t *testing.T, want, got []float64, what string) {
	t.Helper()
	require.Len(t, got, len(want), what)
	for i := range want {
		if math.Float64bits(want[i]) != math.Float64bits(got[i]) && !(math.IsNaN(want[i]) && math.IsNaN(got[i])) {
			t.Errorf("%s[%d] = %v, want %v", what, i, got[i], want[i])
		}
	}
}

type crossTensor struct {
	name  string
	dtype safetensors.DType
	shape []int
	vals  []float64
}

var crossTensors = []crossTensor{
	{"dense/kernel", safetensors.F32, []int{2, 2}, []float64{1.5, -0.25, math.Inf(-1), math.NaN()}},
	{"dense/bias", safetensors.F32, []int{2}, []float64{float64(float32(0.1)), math.Copysign(0, -1)}},
	{"rng/counter", safetensors.F64, []int{}, []float64{12345}},
	{"bn/moving_mean", safetensors.F64, []int{1, 3}, []float64{math.Pi, -math.MaxFloat64, 5e-324}},
	{"empty", safetensors.F64, []int{0, 2}, nil},
}

func crossWrite(t *testing.T) []byte {
	t.Helper()
	var ts []safetensors.Tensor
	for _, c := range crossTensors {
		tt := safetensors.Tensor{Name: c.name, DType: c.dtype, Shape: c.shape}
		if c.dtype == safetensors.F32 {
			f := make([]float32, len(c.vals))
			for i, v := range c.vals {
				f[i] = float32(v)
			}
			tt.Data = safetensors.Float32Bytes(f)
		} else {
			tt.Data = safetensors.Float64Bytes(c.vals)
		}
		ts = append(ts, tt)
	}
	var b bytes.Buffer
	require.NoError(t, safetensors.Write(&b, ts, map[string]string{"format": "tapegrad", "note": "é"}))
	return b.Bytes()
}

// A file we write is read by numpy: same names, dtypes, shapes, values bit
// for bit, metadata.
func TestPythonReadsOurs(t *testing.T) {
	py := python(t)
	path := filepath.Join(t.TempDir(), "ours.safetensors")
	require.NoError(t, os.WriteFile(path, crossWrite(t), 0o644))
	out, err := exec.Command(py, "-c", pyRead, path).Output()
	require.NoError(t, err, "python: %s", out)
	var got struct {
		Metadata map[string]string
		Tensors  map[string]struct {
			DType  string
			Shape  []int
			Values []string
		}
	}
	require.NoError(t, json.Unmarshal(out, &got), "%s", out)
	assert.Equal(t, map[string]string{"format": "tapegrad", "note": "é"}, got.Metadata)
	require.Len(t, got.Tensors, len(crossTensors))
	for _, c := range crossTensors {
		g, ok := got.Tensors[c.name]
		require.True(t, ok, c.name)
		assert.Equal(t, map[safetensors.DType]string{safetensors.F32: "float32", safetensors.F64: "float64"}[c.dtype], g.DType, c.name)
		assert.Equal(t, c.shape, g.Shape, c.name)
		sameBits(t, c.vals, hexFloats(t, g.Values), c.name)
	}
}

// A file written by numpy (by hand, as the format says) is read by us.
func TestWeReadPython(t *testing.T) {
	py := python(t)
	path := filepath.Join(t.TempDir(), "numpy.safetensors")
	out, err := exec.Command(py, "-c", pyWrite, path).Output()
	require.NoError(t, err, "python: %s", out)
	var want map[string][]string
	require.NoError(t, json.Unmarshal(out, &want), "%s", out)
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	f, err := safetensors.Parse(b)
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"framework": "numpy"}, f.Metadata)
	shapes := map[string][]int{"w": {2, 3}, "b": {4}, "s": {}, "v": {5}}
	dtypes := map[string]safetensors.DType{"w": safetensors.F32, "b": safetensors.F32, "s": safetensors.F64, "v": safetensors.F64}
	require.Len(t, f.Tensors, len(want))
	for name, vals := range want {
		tt, ok := f.Tensor(name)
		require.True(t, ok, name)
		assert.Equal(t, dtypes[name], tt.DType, name)
		assert.Equal(t, shapes[name], tt.Shape, name)
		got, err := tt.Float64s()
		require.NoError(t, err)
		sameBits(t, hexFloats(t, vals), got, name)
	}
}

// Cross-check with github.com/nlpodyssey/safetensors, a Go port of the
// reference implementation: it reads our files, we read its files.
func TestNLPOdysseyCrossCheck(t *testing.T) {
	ours := crossWrite(t)
	st, err := nlp.Deserialize(ours)
	require.NoError(t, err, "nlpodyssey rejects our file")
	_, md, err := nlp.ReadMetadata(ours)
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"format": "tapegrad", "note": "é"}, md.Metadata())
	mine, err := safetensors.Parse(ours)
	require.NoError(t, err)
	require.Equal(t, len(mine.Tensors), st.Len())
	for _, tt := range mine.Tensors {
		v, ok := st.Tensor(tt.Name)
		require.True(t, ok, tt.Name)
		assert.Equal(t, string(tt.DType), v.DType().String(), tt.Name)
		shape := make([]int, len(v.Shape()))
		for i, d := range v.Shape() {
			shape[i] = int(d)
		}
		assert.Equal(t, tt.Shape, shape, tt.Name)
		assert.Equal(t, tt.Data, v.Data(), tt.Name)
	}

	// (nlp.NewTensorView refuses scalars, counting 0 elements for shape
	// []; its Serialize takes any View)
	views := map[string]nlpView{}
	for _, tt := range mine.Tensors {
		shape := make([]uint64, len(tt.Shape))
		for i, d := range tt.Shape {
			shape[i] = uint64(d)
		}
		dt, err := nlp.ParseDType(string(tt.DType))
		require.NoError(t, err)
		views[tt.Name] = nlpView{dt, shape, tt.Data}
	}
	theirs, err := nlp.Serialize(views, map[string]string{"k": "v"})
	require.NoError(t, err)
	back, err := safetensors.Parse(theirs)
	require.NoError(t, err, "we reject nlpodyssey's file")
	assert.Equal(t, map[string]string{"k": "v"}, back.Metadata)
	for _, tt := range mine.Tensors {
		u, ok := back.Tensor(tt.Name)
		require.True(t, ok, tt.Name)
		assert.Equal(t, tt.DType, u.DType)
		assert.Equal(t, tt.Shape, u.Shape)
		assert.Equal(t, tt.Data, u.Data)
	}
	// the same layout: both order by element size, then by name
	var a, b []string
	for _, tt := range mine.Tensors {
		a = append(a, tt.Name)
	}
	for _, tt := range back.Tensors {
		b = append(b, tt.Name)
	}
	assert.Equal(t, a, b)

	// both reject what the reference implementation rejects
	for _, bad := range [][]byte{ours[:len(ours)-1], append(append([]byte{}, ours...), 0), ours[:7]} {
		_, errOurs := safetensors.Parse(bad)
		_, errTheirs := nlp.Deserialize(bad)
		assert.Error(t, errOurs)
		assert.Error(t, errTheirs)
	}
}

// nlpView is a tensor as nlpodyssey's Serialize takes it.
type nlpView struct {
	dt    nlp.DType
	shape []uint64
	data  []byte
}

func (v nlpView) DType() nlp.DType { return v.dt }
func (v nlpView) Shape() []uint64  { return v.shape }
func (v nlpView) Data() []byte     { return v.data }
func (v nlpView) DataLen() uint64  { return uint64(len(v.data)) }
