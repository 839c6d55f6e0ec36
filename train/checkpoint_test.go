package train

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tapegrad/tapegrad/compile"
	"github.com/tapegrad/tapegrad/graph"
	"github.com/tapegrad/tapegrad/internal/safetensors"
	"github.com/tapegrad/tapegrad/internal/testutil"
	"github.com/tapegrad/tapegrad/layers"
	"github.com/tapegrad/tapegrad/vm"
)

// ckptStore returns a store of dtype dt holding what a training run keeps:
// weights, BatchNorm statistics, optimizer slots and iterations, the step
// counter, with awkward values (−0, ±Inf, subnormals; float32-exact for
// the float32 store).
func ckptStore(t *testing.T, dt graph.DType, shift float64) *vm.Store {
	t.Helper()
	s := vm.NewStore()
	set := func(name string, shape graph.Shape, v ...float64) {
		for i := range v {
			v[i] += shift
		}
		require.NoError(t, s.SetFloat64s(name, shape, dt, v))
	}
	set("dense/kernel", graph.Shape{2, 3}, 0.5, -1.25, math.Copysign(0, -1), math.Inf(1), 0x1p-140, 3)
	set("dense/bias", graph.Shape{3}, 0.125, 0, -7)
	set("batch_normalization/moving_variance", graph.Shape{3}, 1, 1.5, 2)
	set("optimizer/iterations", graph.Shape{}, 1234)
	set("optimizer/m/dense/kernel", graph.Shape{2, 3}, 1, 2, 3, 4, 5, 6)
	set(layers.RNGCounterName, graph.Shape{}, 17)
	return s
}

// ckptSnapshot returns every variable of s as float64, with its shape and dtype.
func ckptSnapshot(t *testing.T, s *vm.Store) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, name := range s.Names() {
		shape, dt, _ := s.Shape(name)
		v, err := s.Float64s(name)
		require.NoError(t, err)
		bits := make([]string, len(v))
		for i, x := range v {
			bits[i] = strconv.FormatUint(math.Float64bits(x), 16)
		}
		out[name] = dt.String() + shape.String() + strings.Join(bits, ",")
	}
	return out
}

// Saving and loading gives back every variable bit for bit, in both
// dtypes, into a fresh store and over an existing one, with the metadata.
func TestCheckpointRoundTrip(t *testing.T) {
	for _, dt := range []graph.DType{graph.Float32, graph.Float64} {
		t.Run(dt.String(), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "ckpt.safetensors")
			src := ckptStore(t, dt, 0)
			require.NoError(t, SaveStore(path, src, SaveOptions{Summary: "Model: \"sequential\"\n…", Metadata: map[string]string{"epoch": "3"}}))

			fresh := vm.NewStore()
			require.NoError(t, LoadStore(path, fresh), "an empty store takes every entry")
			assert.Equal(t, ckptSnapshot(t, src), ckptSnapshot(t, fresh))

			existing := ckptStore(t, dt, 1)
			require.NoError(t, LoadStore(path, existing))
			assert.Equal(t, ckptSnapshot(t, src), ckptSnapshot(t, existing))

			meta, err := ReadCheckpointMetadata(path)
			require.NoError(t, err)
			assert.Equal(t, "tapegrad", meta[MetaFormat])
			assert.Equal(t, "1", meta[MetaFormatVersion])
			assert.Equal(t, map[graph.DType]string{graph.Float32: "float32", graph.Float64: "float64"}[dt], meta[MetaDType])
			assert.Equal(t, "Model: \"sequential\"\n…", meta[MetaSummary])
			assert.Equal(t, "3", meta["epoch"])
			assert.Len(t, meta[MetaChecksumPrefix+"dense/kernel"], 8)

			fi, err := os.Stat(path)
			require.NoError(t, err)
			assert.Equal(t, os.FileMode(0o644), fi.Mode().Perm())
		})
	}
	// an empty store saves and loads
	path := filepath.Join(t.TempDir(), "empty.safetensors")
	require.NoError(t, SaveStore(path, vm.NewStore()))
	meta, err := ReadCheckpointMetadata(path)
	require.NoError(t, err)
	assert.Equal(t, "none", meta[MetaDType])
	require.NoError(t, LoadStore(path, vm.NewStore()))
}

func TestCheckpointSaveErrors(t *testing.T) {
	dir := t.TempDir()
	s := ckptStore(t, graph.Float32, 0)
	for _, key := range []string{"format", "format_version", "dtype", "summary", "crc32c/x"} {
		err := SaveStore(filepath.Join(dir, "a"), s, SaveOptions{Metadata: map[string]string{key: "x"}})
		require.Error(t, err, key)
		assert.Contains(t, err.Error(), `metadata key "`+key+`" is reserved`)
	}
	require.ErrorContains(t, SaveStore(filepath.Join(dir, "a"), nil), "nil store")
	require.ErrorContains(t, SaveStore(filepath.Join(dir, "a"), s, SaveOptions{}, SaveOptions{}), "want at most one")
	require.Error(t, SaveStore(filepath.Join(dir, "no/such/dir/a"), s))
	ckptAssertNoTemp(t, dir)
}

// ckptFailAfter is a writer that fails once n bytes have gone through.
type ckptFailAfter struct {
	w io.Writer
	n int
}

var errCkptDiskFull = errors.New("injected: disk full")

func (f *ckptFailAfter) Write(p []byte) (int, error) {
	if len(p) > f.n {
		k, _ := f.w.Write(p[:f.n])
		f.n = 0
		return k, errCkptDiskFull
	}
	f.n -= len(p)
	return f.w.Write(p)
}

// ckptAssertNoTemp checks that dir holds no temporary file of a save.
func ckptAssertNoTemp(t *testing.T, dir string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	for _, e := range entries {
		assert.NotContains(t, e.Name(), ".tmp-", "a temporary file was left behind")
	}
}

// A save that fails halfway (the writer fails after n bytes, at every
// stage of the file) returns the error, leaves the previous checkpoint
// whole and no temporary file behind; so does a save whose rename fails
// (the target is a directory).
func TestCheckpointAtomic(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "ckpt.safetensors")
	old := ckptStore(t, graph.Float32, 0)
	require.NoError(t, SaveStore(path, old))
	before, err := os.ReadFile(path)
	require.NoError(t, err)
	newer := ckptStore(t, graph.Float32, 5)
	for _, n := range []int{0, 4, 8, 100, len(before) / 2, len(before) - 1} {
		err := saveStore(path, newer, nil, func(w io.Writer) io.Writer { return &ckptFailAfter{w: w, n: n} })
		require.ErrorIs(t, err, errCkptDiskFull, "fail after %d bytes", n)
		after, err := os.ReadFile(path)
		require.NoError(t, err)
		require.Equal(t, before, after, "fail after %d bytes: the old checkpoint changed", n)
		ckptAssertNoTemp(t, dir)
	}
	loaded := vm.NewStore()
	require.NoError(t, LoadStore(path, loaded))
	assert.Equal(t, ckptSnapshot(t, old), ckptSnapshot(t, loaded))

	// the rename fails: the target is a non-empty directory
	target := filepath.Join(dir, "is-a-dir")
	require.NoError(t, os.MkdirAll(filepath.Join(target, "keep"), 0o755))
	err = SaveStore(target, newer)
	require.Error(t, err)
	fi, err := os.Stat(filepath.Join(target, "keep"))
	require.NoError(t, err)
	assert.True(t, fi.IsDir(), "the directory is untouched")
	ckptAssertNoTemp(t, dir)

	// a successful save replaces the file and keeps its permissions
	require.NoError(t, os.Chmod(path, 0o600))
	require.NoError(t, SaveStore(path, newer))
	fi, err = os.Stat(path)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
	require.NoError(t, LoadStore(path, loaded))
	assert.Equal(t, ckptSnapshot(t, newer), ckptSnapshot(t, loaded))
	ckptAssertNoTemp(t, dir)
}

// A checkpoint truncated anywhere, or with any single bit flipped anywhere
// (length, header, data), is rejected with an error, and the store is left
// untouched.
func TestCheckpointCorrupt(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "ckpt.safetensors")
	require.NoError(t, SaveStore(path, ckptStore(t, graph.Float64, 0)))
	good, err := os.ReadFile(path)
	require.NoError(t, err)
	target := ckptStore(t, graph.Float64, 1)
	want := ckptSnapshot(t, target)
	bad := filepath.Join(dir, "bad.safetensors")
	load := func(b []byte) error {
		require.NoError(t, os.WriteFile(bad, b, 0o644))
		return LoadStore(bad, target)
	}

	for n := range len(good) {
		err := load(good[:n])
		require.Error(t, err, "truncated to %d of %d bytes", n, len(good))
		require.ErrorIs(t, err, safetensors.ErrFormat)
	}
	assert.Equal(t, want, ckptSnapshot(t, target), "a truncated file changed the store")

	for i := range good {
		for bit := range 8 {
			c := append([]byte{}, good...)
			c[i] ^= 1 << bit
			err := load(c)
			require.Error(t, err, "byte %d (%q) bit %d flipped: accepted", i, good[i], bit)
			require.ErrorIs(t, err, safetensors.ErrFormat)
		}
	}
	assert.Equal(t, want, ckptSnapshot(t, target), "a corrupt file changed the store")
	n := binary.LittleEndian.Uint64(good[:8])
	// a flip in the data names the entry
	c := append([]byte{}, good...)
	c[8+n] ^= 1
	err = load(c)
	assert.Regexp(t, `entry "[^"]+": checksum mismatch: the entry's data or its checksum is corrupt`, err.Error())

	// specific messages for the commonest accidents
	err = load(good[:len(good)-3])
	assert.Contains(t, err.Error(), "beyond the data section")
	assert.Contains(t, err.Error(), "truncated file?")
	err = load(good[:20])
	assert.Contains(t, err.Error(), "beyond the end of the file")
	assert.Contains(t, err.Error(), bad, "errors name the file")
}

// Loading checks names, shapes and dtypes against the store's variables,
// reports every problem, and leaves the store untouched on any of them;
// the options relax each rule.
func TestCheckpointLoadChecks(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "ckpt.safetensors")
	file := ckptStore(t, graph.Float32, 0)
	require.NoError(t, SaveStore(path, file))

	t.Run("missing", func(t *testing.T) {
		s := ckptStore(t, graph.Float32, 1)
		require.NoError(t, s.SetFloat64s("dense_1/kernel", graph.Shape{1}, graph.Float32, []float64{9}))
		before := ckptSnapshot(t, s)
		err := LoadStore(path, s)
		require.ErrorContains(t, err, `variable "dense_1/kernel": not in the file`)
		assert.Equal(t, before, ckptSnapshot(t, s))
		require.NoError(t, LoadStore(path, s, LoadOptions{AllowMissing: true}))
		v, _ := s.Float64s("dense_1/kernel")
		assert.Equal(t, []float64{9}, v, "kept")
		k, _ := s.Float64s("dense/bias")
		assert.Equal(t, []float64{0.125, 0, -7}, k, "loaded")
	})
	t.Run("extra", func(t *testing.T) {
		s := vm.NewStore()
		require.NoError(t, s.SetFloat64s("dense/kernel", graph.Shape{2, 3}, graph.Float32, make([]float64, 6)))
		err := LoadStore(path, s)
		require.Error(t, err)
		for _, name := range []string{"dense/bias", "optimizer/iterations", "rng/counter"} {
			assert.Contains(t, err.Error(), `entry "`+name+`": the store has no such variable`, "every extra entry is listed")
		}
		assert.Equal(t, []string{"dense/kernel"}, s.Names())
		require.NoError(t, LoadStore(path, s, LoadOptions{AllowExtra: true}))
		assert.Equal(t, []string{"dense/kernel"}, s.Names(), "skipped")
		require.NoError(t, LoadStore(path, s, LoadOptions{CreateExtra: true}))
		assert.Equal(t, ckptSnapshot(t, file), ckptSnapshot(t, s), "created")
	})
	t.Run("shape", func(t *testing.T) {
		s := vm.NewStore()
		require.NoError(t, s.SetFloat64s("dense/kernel", graph.Shape{3, 2}, graph.Float32, make([]float64, 6)))
		err := LoadStore(path, s, LoadOptions{AllowExtra: true})
		require.ErrorContains(t, err, `entry "dense/kernel": shape [2,3], the store's variable has [3,2]`)
		v, _ := s.Float64s("dense/kernel")
		assert.Equal(t, make([]float64, 6), v)
	})
	t.Run("dtype", func(t *testing.T) {
		s := ckptStore(t, graph.Float64, 1)
		before := ckptSnapshot(t, s)
		err := LoadStore(path, s)
		require.ErrorContains(t, err, `entry "dense/bias": f32, the store's variable is f64 (LoadOptions.ConvertDType converts)`)
		assert.Equal(t, before, ckptSnapshot(t, s))
		require.NoError(t, LoadStore(path, s, LoadOptions{ConvertDType: true}))
		k, _ := s.Float64s("dense/kernel")
		want, _ := file.Float64s("dense/kernel")
		assert.Equal(t, want, k, "float32 values are exact in float64")
		_, dt, _ := s.Shape("dense/kernel")
		assert.Equal(t, graph.Float64, dt, "the store keeps its dtype")

		// and back: float64 into float32 rounds
		p64 := filepath.Join(dir, "f64.safetensors")
		require.NoError(t, s.SetFloat64s("dense/bias", graph.Shape{3}, graph.Float64, []float64{0.1, 0.2, 0.3}))
		require.NoError(t, SaveStore(p64, s))
		s32 := ckptStore(t, graph.Float32, 0)
		require.NoError(t, LoadStore(p64, s32, LoadOptions{ConvertDType: true}))
		b, _ := s32.Float64s("dense/bias")
		assert.Equal(t, []float64{float64(float32(0.1)), float64(float32(0.2)), float64(float32(0.3))}, b)
	})
	t.Run("options", func(t *testing.T) {
		require.ErrorContains(t, LoadStore(path, vm.NewStore(), LoadOptions{}, LoadOptions{}), "want at most one")
		require.ErrorContains(t, LoadStore(path, nil), "nil store")
		err := LoadStore(filepath.Join(dir, "nope"), vm.NewStore())
		require.ErrorIs(t, err, os.ErrNotExist)
	})
}

// ckptWriteRaw writes a safetensors file with the given tensors and metadata.
func ckptWriteRaw(t *testing.T, path string, ts []safetensors.Tensor, meta map[string]string) {
	t.Helper()
	f, err := os.Create(path)
	require.NoError(t, err)
	require.NoError(t, safetensors.Write(f, ts, meta))
	require.NoError(t, f.Close())
}

// Files of other tools load when they hold F32 and F64 entries; tapegrad's
// own metadata must be complete and consistent.
func TestCheckpointMetadataChecks(t *testing.T) {
	dir := t.TempDir()
	kernel := safetensors.Tensor{Name: "k", DType: safetensors.F32, Shape: []int{2}, Data: safetensors.Float32Bytes([]float32{1, 2})}
	sum := checksum(kernel.Data)
	good := map[string]string{"format": "tapegrad", "format_version": "1", "dtype": "float32", "crc32c/k": sum}
	with := func(k, v string) map[string]string {
		m := map[string]string{}
		for a, b := range good {
			m[a] = b
		}
		if v == "" {
			delete(m, k)
		} else {
			m[k] = v
		}
		return m
	}
	tests := []struct {
		name string
		ts   []safetensors.Tensor
		meta map[string]string
		want string // "" when it loads
	}{
		{"foreign file without metadata", []safetensors.Tensor{kernel}, nil, ""},
		{"PyTorch's file", []safetensors.Tensor{kernel}, map[string]string{"format": "pt"}, ""},
		{"not tapegrad's format", []safetensors.Tensor{kernel}, with("format", "pt"), `metadata: format "pt", want "tapegrad"`},
		{"no format", []safetensors.Tensor{kernel}, with("format", ""), `metadata: format "", want "tapegrad"`},
		{"complete", []safetensors.Tensor{kernel}, good, ""},
		{"newer version", []safetensors.Tensor{kernel}, with("format_version", "2"), "format_version 2: this build of tapegrad reads up to 1"},
		{"bad version", []safetensors.Tensor{kernel}, with("format_version", "one"), `format_version "one" is not a version`},
		{"no version", []safetensors.Tensor{kernel}, with("format_version", ""), `format_version "" is not a version`},
		{"dtype mismatch", []safetensors.Tensor{kernel}, with("dtype", "float64"), `metadata: dtype "float64", the entries are float32`},
		{"no checksum", []safetensors.Tensor{kernel}, with("crc32c/k", ""), `entry "k": no checksum in the metadata`},
		{"wrong checksum", []safetensors.Tensor{kernel}, with("crc32c/k", "00000000"), `entry "k": checksum mismatch`},
		{"checksum of nothing", []safetensors.Tensor{kernel}, with("crc32c/q", "00000000"), `checksum of entry "q", which the file does not have`},
		{"integer entry", []safetensors.Tensor{{Name: "i", DType: safetensors.I64, Shape: []int{1}, Data: make([]byte, 8)}}, nil, `entry "i": dtype I64: tapegrad loads F32 and F64`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, "f.safetensors")
			ckptWriteRaw(t, path, tc.ts, tc.meta)
			s := vm.NewStore()
			err := LoadStore(path, s)
			if tc.want == "" {
				require.NoError(t, err)
				v, err := s.Float64s("k")
				require.NoError(t, err)
				assert.Equal(t, []float64{1, 2}, v)
				return
			}
			require.Error(t, err)
			assert.ErrorIs(t, err, safetensors.ErrFormat)
			assert.Contains(t, err.Error(), tc.want)
			assert.Empty(t, s.Names())
		})
	}
}

// A numpy-written file (no tapegrad metadata) loads; numpy reads our
// checkpoint with its metadata. Skipped without /usr/bin/python3 and numpy.
func TestCheckpointPython(t *testing.T) {
	const py = "/usr/bin/python3"
	if _, err := os.Stat(py); err != nil {
		t.Skipf("%s not found", py)
	}
	if err := exec.Command(py, "-c", "import numpy").Run(); err != nil {
		t.Skipf("%s has no numpy: %v", py, err)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "ckpt.safetensors")
	src := ckptStore(t, graph.Float32, 0)
	require.NoError(t, SaveStore(path, src, SaveOptions{Summary: "summary ✓"}))
	const read = `
import json, struct, sys
import numpy as np
buf = open(sys.argv[1], "rb").read()
(n,) = struct.unpack("<Q", buf[:8])
h = json.loads(buf[8:8 + n])
meta = h.pop("__metadata__")
vals = {k: [float(x).hex() for x in np.frombuffer(buf[8 + n + v["data_offsets"][0]:8 + n + v["data_offsets"][1]], dtype={"F32": "<f4", "F64": "<f8"}[v["dtype"]]).reshape(v["shape"]).ravel()] for k, v in h.items()}
print(json.dumps({"meta": meta, "vals": vals}))
`
	out, err := exec.Command(py, "-c", read, path).Output()
	require.NoError(t, err, "%s", out)
	var got struct {
		Meta map[string]string
		Vals map[string][]string
	}
	require.NoError(t, json.Unmarshal(out, &got))
	assert.Equal(t, "tapegrad", got.Meta["format"])
	assert.Equal(t, "summary ✓", got.Meta["summary"])
	require.Len(t, got.Vals, len(src.Names()))
	for _, name := range src.Names() {
		want, _ := src.Float64s(name)
		require.Len(t, got.Vals[name], len(want), name)
		for i, s := range got.Vals[name] {
			v, err := strconv.ParseFloat(s, 64)
			require.NoError(t, err)
			assert.Equal(t, math.Float64bits(want[i]), math.Float64bits(v), "%s[%d]", name, i)
		}
	}

	const write = `
import json, struct, sys
import numpy as np
a = {"dense/kernel": np.array([[1.5, -2], [0.25, 8]], dtype=np.float32), "rng/counter": np.array(3, dtype=np.float32)}
h, blobs, off = {}, [], 0
for k in sorted(a):
    raw = a[k].astype("<f4").tobytes()
    h[k] = {"dtype": "F32", "shape": list(a[k].shape), "data_offsets": [off, off + len(raw)]}
    blobs.append(raw); off += len(raw)
hb = json.dumps(h).encode()
open(sys.argv[1], "wb").write(struct.pack("<Q", len(hb)) + hb + b"".join(blobs))
`
	pyPath := filepath.Join(dir, "numpy.safetensors")
	out, err = exec.Command(py, "-c", write, pyPath).CombinedOutput()
	require.NoError(t, err, "%s", out)
	s := vm.NewStore()
	require.NoError(t, LoadStore(pyPath, s))
	k, _ := s.Float64s("dense/kernel")
	assert.Equal(t, []float64{1.5, -2, 0.25, 8}, k)
	shape, dt, _ := s.Shape(layers.RNGCounterName)
	assert.True(t, shape.Equal(graph.Shape{}), "a scalar, got %v", shape)
	assert.Equal(t, graph.Float32, dt)
}

// Resuming from a checkpoint is bit-identical: a model with RReLU,
// BatchNormalization and Dropout trained (forward and state updates) for
// three steps computes at steps 2 and 3 what a run saved after step 1 and
// loaded into a new store and a new program computes.
func TestCheckpointResume(t *testing.T) {
	model := func() *layers.Sequential {
		m := layers.NewSequential(layers.Input(6),
			layers.Dense(16, layers.DenseOptions{}),
			layers.RReLU(layers.RReLUOptions{}),
			layers.BatchNormalization(layers.BNOptions{}),
			layers.Dropout(0.3, layers.DropoutOptions{}),
			layers.Dense(2, layers.DenseOptions{}))
		m.Seed(23)
		return m
	}
	x := make([]float64, 32*6)
	for i := range x {
		x[i] = math.Sin(float64(i))
	}
	feeds := vm.Feeds{"x": testutil.Tensor(graph.Float32, []int{32, 6}, x)}
	step := func(store *vm.Store) func() []float64 {
		m := model()
		e, err := m.Emit(graph.Float32, layers.Training)
		require.NoError(t, err)
		require.NoError(t, store.Init(e.Graph, m.RandomSeed(), nil))
		p, err := compile.Compile(e.Graph, append([]*graph.Node{e.Output}, e.Updates...), compile.Options{})
		require.NoError(t, err)
		mach := vm.NewMachine(p, store)
		return func() []float64 {
			out, err := mach.Run(feeds)
			require.NoError(t, err)
			return testutil.Float64s(out[0])
		}
	}
	store := vm.NewStore()
	run := step(store)
	run()
	path := filepath.Join(t.TempDir(), "step1.safetensors")
	require.NoError(t, SaveStore(path, store))
	y2, y3 := run(), run()

	restored := vm.NewStore()
	require.NoError(t, LoadStore(path, restored))
	c, _ := restored.Float64s(layers.RNGCounterName)
	assert.Equal(t, []float64{1}, c, "the step counter is in the checkpoint")
	resumed := step(restored)
	assert.Equal(t, y2, resumed(), "step 2")
	assert.Equal(t, y3, resumed(), "step 3")
	assert.Equal(t, ckptSnapshot(t, store), ckptSnapshot(t, restored))
}
