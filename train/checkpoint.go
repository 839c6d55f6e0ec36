package train

import (
	"bufio"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/tapegrad/tapegrad/graph"
	"github.com/tapegrad/tapegrad/internal/safetensors"
	"github.com/tapegrad/tapegrad/vm"
)

// Checkpoints are safetensors files (internal/safetensors): one entry per
// variable of a store, under its store name ("dense/kernel",
// "batch_normalization/moving_mean", "optimizer/...", "rng/counter"), F32
// or F64 as the variable is, readable by PyTorch's and Keras's loaders and
// by numpy. The header's metadata holds tapegrad's keys:
//
//	format          "tapegrad"
//	format_version  "1"
//	dtype           "float32", "float64", "mixed" or "none"
//	summary         the model summary, when given (SaveOptions.Summary)
//	crc32c/<name>   the CRC-32C of each entry's bytes, 8 hex digits
//
// and any the caller adds (SaveOptions.Metadata). Model.Save adds
//
//	model_seed      the model seed (Model.Seed), in decimal
//
// which Model.Load restores. The checksums let
// LoadStore tell a corrupt entry from a valid one; files written by other
// tools have none and are loaded without them.

// Metadata keys of a checkpoint.
const (
	MetaFormat        = "format"
	MetaFormatVersion = "format_version"
	MetaDType         = "dtype"
	MetaSummary       = "summary"
	// MetaChecksumPrefix starts the key of an entry's checksum:
	// "crc32c/dense/kernel".
	MetaChecksumPrefix = "crc32c/"
	// MetaModelSeed is the model seed, in decimal: written by Model.Save,
	// restored by Model.Load.
	MetaModelSeed = "model_seed"
)

// CheckpointFormat and CheckpointVersion are the values of the format and
// format_version keys that SaveStore writes; LoadStore refuses a newer
// version.
const (
	CheckpointFormat  = "tapegrad"
	CheckpointVersion = 1
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// SaveOptions are SaveStore's optional settings.
type SaveOptions struct {
	// Summary, when not empty, is stored under "summary"
	// (layers.Sequential.Summary() is the intended value).
	Summary string
	// Metadata is stored in the header besides tapegrad's own keys, which
	// it may not use (format, format_version, dtype, summary, crc32c/...).
	Metadata map[string]string
}

// SaveStore writes every variable of s (parameters, BatchNorm moving
// statistics, optimizer slots and iterations, the random layers' step
// counter) to path as a safetensors checkpoint, with at most one
// SaveOptions.
//
// The write is atomic: the file is written to a temporary file in the same
// directory, flushed to disk (fsync), renamed over path, and the directory
// is synced; on any error the temporary file is removed and a file already
// at path is left as it was. Do not save while a machine bound to s runs:
// the snapshot would mix values of two steps.
func SaveStore(path string, s *vm.Store, opts ...SaveOptions) error {
	return saveStore(path, s, opts, nil)
}

// saveStore is SaveStore with a hook that wraps the file's writer (tests
// inject failures with it).
func saveStore(path string, s *vm.Store, opts []SaveOptions, wrap func(io.Writer) io.Writer) error {
	if s == nil {
		return errors.New("train: save checkpoint: nil store")
	}
	if len(opts) > 1 {
		return fmt.Errorf("train: save checkpoint: %d SaveOptions: want at most one", len(opts))
	}
	var o SaveOptions
	if len(opts) == 1 {
		o = opts[0]
	}
	tensors, meta, err := checkpointTensors(s, o)
	if err != nil {
		return fmt.Errorf("train: save checkpoint %s: %w", path, err)
	}
	err = writeFileAtomic(path, func(w io.Writer) error {
		if wrap != nil {
			w = wrap(w)
		}
		return safetensors.Write(w, tensors, meta)
	})
	if err != nil {
		return fmt.Errorf("train: save checkpoint %s: %w", path, err)
	}
	return nil
}

// checkpointTensors returns the entries and the metadata of a checkpoint
// of s.
func checkpointTensors(s *vm.Store, o SaveOptions) ([]safetensors.Tensor, map[string]string, error) {
	meta := map[string]string{}
	for k, v := range o.Metadata {
		if reservedMetaKey(k) {
			return nil, nil, fmt.Errorf("metadata key %q is reserved for tapegrad", k)
		}
		meta[k] = v
	}
	names := s.Names()
	tensors := make([]safetensors.Tensor, 0, len(names))
	var dts []graph.DType
	for _, name := range names {
		shape, dt, ok := s.Shape(name)
		if !ok {
			return nil, nil, fmt.Errorf("variable %q vanished while saving", name)
		}
		t := safetensors.Tensor{Name: name, Shape: shape}
		switch dt {
		case graph.Float32:
			v, err := s.Get(name)
			if err != nil {
				return nil, nil, err
			}
			t.DType, t.Data = safetensors.F32, safetensors.Float32Bytes(v.Float32s())
		case graph.Float64:
			v, err := s.Float64s(name)
			if err != nil {
				return nil, nil, err
			}
			t.DType, t.Data = safetensors.F64, safetensors.Float64Bytes(v)
		default:
			return nil, nil, fmt.Errorf("variable %q has dtype %v", name, dt)
		}
		if !slices.Contains(dts, dt) {
			dts = append(dts, dt)
		}
		meta[MetaChecksumPrefix+name] = checksum(t.Data)
		tensors = append(tensors, t)
	}
	meta[MetaFormat] = CheckpointFormat
	meta[MetaFormatVersion] = strconv.Itoa(CheckpointVersion)
	switch len(dts) {
	case 0:
		meta[MetaDType] = "none"
	case 1:
		meta[MetaDType] = checkpointDType(dts[0])
	default:
		meta[MetaDType] = "mixed"
	}
	if o.Summary != "" {
		meta[MetaSummary] = o.Summary
	}
	return tensors, meta, nil
}

func checksum(b []byte) string { return fmt.Sprintf("%08x", crc32.Checksum(b, castagnoli)) }

// reservedMetaKey reports whether a metadata key is tapegrad's.
func reservedMetaKey(k string) bool {
	switch k {
	case MetaFormat, MetaFormatVersion, MetaDType, MetaSummary:
		return true
	}
	return strings.HasPrefix(k, MetaChecksumPrefix)
}

// WriteFileAtomic writes the file at path through write, so that a crash
// at any moment leaves either the previous file whole or the new one
// complete, never a mix: write fills a temporary file in the same directory
// (".<name>.tmp-<random>", through a buffer), which is flushed, synced to
// disk (fsync), given the previous file's permissions (0644 for a new
// file), and renamed over path; the directory is then synced so that the
// rename itself survives a power cut. On any error the temporary file is
// removed and path is left as it was. SaveStore, Model.Save and
// ModelCheckpoint write through it; so may any program that writes files a
// run depends on (reports, logs of record).
//
// A process killed in the middle of a save (SIGKILL, a power cut) leaves
// its temporary file behind. The next WriteFileAtomic of the same path
// removes such orphans before writing: a temporary file of path's pattern
// that no process holds open for writing (the writer keeps an advisory lock
// on it, flock(2), which the system releases when the writer dies), and
// that has not been modified for a minute (so that a writer that has just
// created its file and not yet locked it is left alone). Where flock is not
// available (Windows, Plan 9), orphans older than a day are removed. Orphans
// are never loaded: LoadStore reads only path.
func WriteFileAtomic(path string, write func(io.Writer) error) error {
	if write == nil {
		return errors.New("train: write file: nil write function")
	}
	return writeFileAtomic(path, write)
}

// writeFileAtomic is WriteFileAtomic.
func writeFileAtomic(path string, write func(io.Writer) error) (err error) {
	dir := filepath.Dir(path)
	perm := fs.FileMode(0o644)
	if fi, err := os.Stat(path); err == nil && fi.Mode().IsRegular() {
		perm = fi.Mode().Perm()
	}
	removeOrphans(dir, filepath.Base(path))
	f, err := os.CreateTemp(dir, tempPrefix(filepath.Base(path))+"*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	lockTemp(f) // released when f is closed
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	bw := bufio.NewWriterSize(f, 1<<20)
	if err := write(bw); err != nil {
		return err
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	if err := f.Chmod(perm); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	return syncDir(dir)
}

// tempPrefix is the start of the names of path's temporary files.
func tempPrefix(base string) string { return "." + base + ".tmp-" }

// orphanAge is how long a temporary file must have been left unmodified
// before a later save removes it (when no process holds its lock).
var orphanAge = time.Minute

// removeOrphans removes the temporary files of earlier saves of dir/base
// whose writers have died (see WriteFileAtomic). It is best effort: a file
// it cannot inspect or remove is left for the next save.
func removeOrphans(dir, base string) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	prefix := tempPrefix(base)
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), prefix) || !e.Type().IsRegular() {
			continue
		}
		name := filepath.Join(dir, e.Name())
		fi, err := e.Info()
		if err != nil {
			continue
		}
		age := time.Since(fi.ModTime())
		inUse, known := tempInUse(name)
		switch {
		case known && !inUse && age >= orphanAge:
		case !known && age >= 24*time.Hour:
		default:
			continue
		}
		os.Remove(name)
	}
}

// syncDir flushes a directory's entries (the rename) to disk, where the
// platform can.
func syncDir(dir string) error {
	if runtime.GOOS == "windows" {
		return nil // directories cannot be opened for syncing there
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, syscall.EINVAL) && !errors.Is(err, syscall.ENOTSUP) {
		return fmt.Errorf("the file is saved, but syncing its directory failed: %w", err)
	}
	return nil
}

// LoadOptions are LoadStore's optional settings. The zero value is
// strict: the file must hold exactly the store's variables, with their
// shapes and dtypes.
type LoadOptions struct {
	// AllowMissing keeps the store's variables that the file lacks at their
	// values, instead of failing (loading weights without an optimizer's
	// state, say).
	AllowMissing bool
	// AllowExtra skips the file's entries that the store lacks, instead of
	// failing.
	AllowExtra bool
	// CreateExtra creates the file's entries that the store lacks as new
	// variables (it implies AllowExtra).
	CreateExtra bool
	// ConvertDType loads an F32 entry into a float64 variable and an F64
	// entry into a float32 one (rounded), instead of failing.
	ConvertDType bool
}

// LoadStore reads a checkpoint into s, with at most one LoadOptions.
//
// Everything is checked before anything is written, and on any error s is
// left untouched: the file's structure (internal/safetensors), its
// metadata (a tapegrad checkpoint must say format "tapegrad", a version
// this build reads and a dtype that matches its entries), every entry's
// checksum (files written by other tools, which have neither tapegrad's
// format nor its checksums, are loaded without them), that every entry is F32 or F64, that every variable of s is in the
// file (unless AllowMissing) with its shape and dtype (unless
// ConvertDType), and that the file has no entry s lacks (unless AllowExtra
// or CreateExtra). An empty store takes every entry of the file, as with
// CreateExtra: that is how to read a checkpoint into a fresh store.
// Errors name the entries at fault, all of them.
func LoadStore(path string, s *vm.Store, opts ...LoadOptions) error {
	if s == nil {
		return errors.New("train: load checkpoint: nil store")
	}
	if len(opts) > 1 {
		return fmt.Errorf("train: load checkpoint: %d LoadOptions: want at most one", len(opts))
	}
	var o LoadOptions
	if len(opts) == 1 {
		o = opts[0]
	}
	f, err := readCheckpoint(path)
	if err != nil {
		return err
	}
	return loadParsed(path, f, s, o)
}

// readCheckpoint reads and checks the checkpoint at path (parseCheckpoint).
func readCheckpoint(path string) (*safetensors.File, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("train: load checkpoint: %w", err)
	}
	f, err := parseCheckpoint(b)
	if err != nil {
		return nil, fmt.Errorf("train: load checkpoint %s: %w", path, err)
	}
	return f, nil
}

// loadParsed is LoadStore for a file already read and checked.
func loadParsed(path string, f *safetensors.File, s *vm.Store, o LoadOptions) error {
	if len(s.Names()) == 0 {
		o.CreateExtra = true
	}
	type load struct {
		name  string
		shape graph.Shape
		dtype graph.DType // the store's, or the entry's for a new variable
		t     safetensors.Tensor
	}
	var (
		loads    []load
		problems []error
	)
	inFile := map[string]bool{}
	for _, t := range f.Tensors {
		inFile[t.Name] = true
		shape := graph.Shape(slices.Clone(t.Shape))
		fileDT := graph.Float32
		if t.DType == safetensors.F64 {
			fileDT = graph.Float64
		}
		have, dt, ok := s.Shape(t.Name)
		switch {
		case !ok && o.CreateExtra:
			loads = append(loads, load{t.Name, shape, fileDT, t})
		case !ok && o.AllowExtra:
		case !ok:
			problems = append(problems, fmt.Errorf("entry %q: the store has no such variable (LoadOptions.AllowExtra skips it)", t.Name))
		case !have.Equal(shape):
			problems = append(problems, fmt.Errorf("entry %q: shape %v, the store's variable has %v", t.Name, shape, have))
		case dt != fileDT && !o.ConvertDType:
			problems = append(problems, fmt.Errorf("entry %q: %v, the store's variable is %v (LoadOptions.ConvertDType converts)", t.Name, fileDT, dt))
		default:
			loads = append(loads, load{t.Name, shape, dt, t})
		}
	}
	if !o.AllowMissing {
		for _, name := range s.Names() {
			if !inFile[name] {
				problems = append(problems, fmt.Errorf("variable %q: not in the file (LoadOptions.AllowMissing keeps it)", name))
			}
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("train: load checkpoint %s: %w", path, errors.Join(problems...))
	}
	// decode everything before writing anything
	type value struct {
		f32 []float32
		f64 []float64
	}
	values := make([]value, len(loads))
	for i, l := range loads {
		var err error
		if l.dtype == graph.Float32 && l.t.DType == safetensors.F32 {
			values[i].f32, err = l.t.Float32s()
		} else {
			values[i].f64, err = l.t.Float64s()
		}
		if err != nil {
			return fmt.Errorf("train: load checkpoint %s: %w", path, err)
		}
	}
	for i, l := range loads {
		var err error
		if values[i].f32 != nil {
			t, ferr := vm.FromSlice(values[i].f32, l.shape...)
			if err = ferr; err == nil {
				err = s.Set(l.name, t)
			}
		} else {
			err = s.SetFloat64s(l.name, l.shape, l.dtype, values[i].f64)
		}
		if err != nil {
			// only a concurrent change of the store can get here
			return fmt.Errorf("train: load checkpoint %s: entry %q: %w (the store was changed while loading; %d of %d entries were written)", path, l.name, err, i, len(loads))
		}
	}
	return nil
}

// parseCheckpoint parses a file and checks tapegrad's metadata and the
// entries' checksums.
func parseCheckpoint(b []byte) (*safetensors.File, error) {
	f, err := safetensors.Parse(b)
	if err != nil {
		return nil, err
	}
	meta := f.Metadata
	// a tapegrad checkpoint says so, or has one of the keys only tapegrad
	// writes (a corrupt "format" must not pass for a foreign file); other
	// tools' files, PyTorch's {"format": "pt"} among them, have none
	tapegrad := meta[MetaFormat] == CheckpointFormat
	for k := range meta {
		if k == MetaFormatVersion || strings.HasPrefix(k, MetaChecksumPrefix) {
			tapegrad = true
		}
	}
	var problems []error
	for _, t := range f.Tensors {
		if t.DType != safetensors.F32 && t.DType != safetensors.F64 {
			problems = append(problems, fmt.Errorf("entry %q: dtype %s: tapegrad loads F32 and F64", t.Name, t.DType))
		}
	}
	if tapegrad {
		if meta[MetaFormat] != CheckpointFormat {
			problems = append(problems, fmt.Errorf("metadata: format %q, want %q", meta[MetaFormat], CheckpointFormat))
		}
		switch v, err := strconv.Atoi(meta[MetaFormatVersion]); {
		case err != nil || v < 1:
			problems = append(problems, fmt.Errorf("metadata: format_version %q is not a version", meta[MetaFormatVersion]))
		case v > CheckpointVersion:
			problems = append(problems, fmt.Errorf("metadata: format_version %d: this build of tapegrad reads up to %d", v, CheckpointVersion))
		}
		if want := fileDType(f); meta[MetaDType] != want {
			problems = append(problems, fmt.Errorf("metadata: dtype %q, the entries are %s", meta[MetaDType], want))
		}
		for _, t := range f.Tensors {
			sum, ok := meta[MetaChecksumPrefix+t.Name]
			switch {
			case !ok:
				problems = append(problems, fmt.Errorf("entry %q: no checksum in the metadata", t.Name))
			case sum != checksum(t.Data):
				problems = append(problems, fmt.Errorf("entry %q: checksum mismatch: the entry's data or its checksum is corrupt", t.Name))
			}
		}
		for k := range meta {
			if name, ok := strings.CutPrefix(k, MetaChecksumPrefix); ok {
				if _, exists := f.Tensor(name); !exists {
					problems = append(problems, fmt.Errorf("metadata: checksum of entry %q, which the file does not have", name))
				}
			}
		}
	}
	if len(problems) > 0 {
		slices.SortFunc(problems, func(a, b error) int { return strings.Compare(a.Error(), b.Error()) })
		return nil, fmt.Errorf("%w: %w", safetensors.ErrFormat, errors.Join(problems...))
	}
	return f, nil
}

// fileDType is the dtype metadata value for f's entries.
func fileDType(f *safetensors.File) string {
	var seen []safetensors.DType
	for _, t := range f.Tensors {
		if !slices.Contains(seen, t.DType) {
			seen = append(seen, t.DType)
		}
	}
	switch {
	case len(seen) == 0:
		return "none"
	case len(seen) > 1:
		return "mixed"
	case seen[0] == safetensors.F64:
		return checkpointDType(graph.Float64)
	}
	return checkpointDType(graph.Float32)
}

// checkpointDType is the dtype metadata value of a store dtype.
func checkpointDType(dt graph.DType) string {
	if dt == graph.Float64 {
		return "float64"
	}
	return "float32"
}

// ReadCheckpointMetadata returns the metadata of a checkpoint (format,
// version, dtype, summary, checksums and the caller's keys), after
// checking the whole file as LoadStore does.
func ReadCheckpointMetadata(path string) (map[string]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("train: read checkpoint: %w", err)
	}
	f, err := parseCheckpoint(b)
	if err != nil {
		return nil, fmt.Errorf("train: read checkpoint %s: %w", path, err)
	}
	out := make(map[string]string, len(f.Metadata))
	for k, v := range f.Metadata {
		out[k] = v
	}
	return out, nil
}
