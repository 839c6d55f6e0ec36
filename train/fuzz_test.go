package train

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/tapegrad/tapegrad/graph"
	"github.com/tapegrad/tapegrad/internal/safetensors"
	"github.com/tapegrad/tapegrad/layers"
	"github.com/tapegrad/tapegrad/vm"
)

// FuzzLoadStore loads random and mutated files as checkpoints, end to end:
// LoadStore into an empty store and into a store of variables with the
// seeds' names (strict, and with LoadOptions that allow more),
// ReadCheckpointMetadata, and Model.Load into a compiled model (which
// recompiles it when the file's model seed differs). The seeds are real
// checkpoints (float32, float64, a model's, Model.Save's with another model
// seed), a file of another tool and broken ones; the fuzzer mutates them.
// The property: nothing panics; every call either succeeds or returns an
// error, and an error leaves the store or the model (its seed included)
// exactly as it was.
//
//	go test ./train -run XXX -fuzz FuzzLoadStore -fuzztime 30s
func FuzzLoadStore(f *testing.F) {
	dir := f.TempDir()
	seed := func(s *vm.Store, opts ...SaveOptions) []byte {
		path := filepath.Join(dir, "seed.safetensors")
		if err := SaveStore(path, s, opts...); err != nil {
			f.Fatal(err)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		return b
	}
	model := fuzzModel(f)
	ckpt := seed(model.Store(), SaveOptions{Summary: model.Summary()})
	f.Add(ckpt)
	f.Add(ckpt[:len(ckpt)/2])
	{ // Model.Save's, with a model seed that differs from model's
		other := fuzzModel(f)
		other.Seed(99)
		path := filepath.Join(dir, "model.safetensors")
		if err := other.Save(path); err != nil {
			f.Fatal(err)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add(seed(fuzzStore(f, graph.Float64), SaveOptions{Metadata: map[string]string{"run": "7"}}))
	f.Add(seed(fuzzStore(f, graph.Float32)))
	f.Add(seed(vm.NewStore()))
	var other bytes.Buffer // PyTorch's format key, no checksums, a BF16 entry
	if err := safetensors.Write(&other, []safetensors.Tensor{
		{Name: "a", DType: safetensors.F32, Shape: []int{2}, Data: make([]byte, 8)},
		{Name: "b", DType: safetensors.BF16, Shape: []int{1}, Data: make([]byte, 2)},
	}, map[string]string{"format": "pt"}); err != nil {
		f.Fatal(err)
	}
	f.Add(other.Bytes())
	f.Add([]byte{})
	f.Add([]byte("\x02\x00\x00\x00\x00\x00\x00\x00{}"))

	path := filepath.Join(dir, "fuzz.safetensors") // a worker runs one input at a time
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 1<<16 {
			return
		}
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		_, metaErr := ReadCheckpointMetadata(path)

		empty := vm.NewStore()
		err := LoadStore(path, empty)
		if (err == nil) != (metaErr == nil) {
			t.Fatalf("LoadStore into an empty store: %v, but ReadCheckpointMetadata: %v", err, metaErr)
		}
		if err != nil && len(empty.Names()) != 0 {
			t.Fatalf("a failed LoadStore (%v) created variables %v", err, empty.Names())
		}

		for _, o := range []LoadOptions{{}, {AllowMissing: true, AllowExtra: true}, {CreateExtra: true, ConvertDType: true}, {AllowMissing: true, ConvertDType: true}} {
			s := fuzzStore(t, graph.Float32)
			before := storeBits(t, s)
			if err := LoadStore(path, s, o); err != nil && !bytes.Equal(before, storeBits(t, s)) {
				t.Fatalf("%+v: a failed LoadStore (%v) changed the store", o, err)
			}
		}

		before, seed := storeBits(t, model.Store()), model.Sequential().RandomSeed()
		if err := model.Load(path); err != nil && (!bytes.Equal(before, storeBits(t, model.Store())) || model.Sequential().RandomSeed() != seed) {
			t.Fatalf("a failed Model.Load (%v) changed the model", err)
		}
	})
}

// fuzzModel is a small compiled model with BN and dropout.
func fuzzModel(tb testing.TB) *Model {
	m := NewSequential(layers.Input(3), layers.Dense(4, layers.DenseOptions{}), layers.BatchNormalization(layers.BNOptions{}),
		layers.Dropout(0.5, layers.DropoutOptions{}), layers.Dense(2, layers.DenseOptions{}))
	m.Seed(1)
	if err := m.Compile(Config{Loss: SparseCategoricalCrossentropy{FromLogits: true}, Optimizer: Adam{}}); err != nil {
		tb.Fatal(err)
	}
	return m
}

// fuzzStore is a store with a few variables of dtype dt, named as the
// seeds' are.
func fuzzStore(tb testing.TB, dt graph.DType) *vm.Store {
	s := vm.NewStore()
	for _, v := range []struct {
		name  string
		shape graph.Shape
	}{{"a", graph.Shape{2}}, {"dense/kernel", graph.Shape{3, 4}}, {"dense/bias", graph.Shape{4}}, {layers.RNGCounterName, graph.Shape{}}} {
		vals := make([]float64, v.shape.Size())
		for i := range vals {
			vals[i] = float64(i) - 1.5
		}
		if err := s.SetFloat64s(v.name, v.shape, dt, vals); err != nil {
			tb.Fatal(err)
		}
	}
	return s
}

// storeBits is the store's content as bytes: names, shapes, dtypes, values.
func storeBits(tb testing.TB, s *vm.Store) []byte {
	var b bytes.Buffer
	for _, name := range s.Names() {
		shape, dt, _ := s.Shape(name)
		v, err := s.Float64s(name)
		if err != nil {
			tb.Fatal(err)
		}
		b.WriteString(name + dt.String() + shape.String())
		b.Write(safetensors.Float64Bytes(v))
	}
	return b.Bytes()
}
