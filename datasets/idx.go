package datasets

import (
	"bufio"
	"bytes"
	"compress/flate"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"io"
	"math"
	"os"
	"strconv"
)

// IDXType is the element type of an IDX file, the third byte of its magic
// number.
type IDXType byte

// The element types of the IDX format. MNIST and Fashion-MNIST use only
// IDXUint8.
const (
	IDXUint8   IDXType = 0x08
	IDXInt8    IDXType = 0x09
	IDXInt16   IDXType = 0x0B
	IDXInt32   IDXType = 0x0C
	IDXFloat32 IDXType = 0x0D
	IDXFloat64 IDXType = 0x0E
)

// Size is the number of bytes of one element, 0 for an unknown type.
func (t IDXType) Size() int {
	switch t {
	case IDXUint8, IDXInt8:
		return 1
	case IDXInt16:
		return 2
	case IDXInt32, IDXFloat32:
		return 4
	case IDXFloat64:
		return 8
	}
	return 0
}

// String returns the type's name in the IDX description ("ubyte", "int").
func (t IDXType) String() string {
	switch t {
	case IDXUint8:
		return "ubyte"
	case IDXInt8:
		return "byte"
	case IDXInt16:
		return "short"
	case IDXInt32:
		return "int"
	case IDXFloat32:
		return "float"
	case IDXFloat64:
		return "double"
	}
	return "idxtype(0x" + strconv.FormatUint(uint64(t), 16) + ")"
}

// maxIDXBytes bounds the data an IDX header may promise. The largest file
// this package knows is 47 MB; the bound only keeps a corrupt header from
// promising more than an int can count.
const maxIDXBytes = 1 << 40

// IDX is the content of one IDX file: the element type, the dimensions
// (outermost first) and the elements as stored, big-endian.
type IDX struct {
	Type IDXType
	Dims []int
	Data []byte
}

// Len is the number of elements the dimensions describe.
func (x *IDX) Len() int {
	n := 1
	for _, d := range x.Dims {
		n *= d
	}
	return n
}

// Float64s decodes the elements.
func (x *IDX) Float64s() []float64 {
	n := len(x.Data) / max(x.Type.Size(), 1)
	out := make([]float64, n)
	d := x.Data
	for i := range out {
		switch x.Type {
		case IDXUint8:
			out[i] = float64(d[i])
		case IDXInt8:
			out[i] = float64(int8(d[i]))
		case IDXInt16:
			out[i] = float64(int16(binary.BigEndian.Uint16(d[2*i:])))
		case IDXInt32:
			out[i] = float64(int32(binary.BigEndian.Uint32(d[4*i:])))
		case IDXFloat32:
			out[i] = float64(math.Float32frombits(binary.BigEndian.Uint32(d[4*i:])))
		case IDXFloat64:
			out[i] = math.Float64frombits(binary.BigEndian.Uint64(d[8*i:]))
		}
	}
	return out
}

// ReadIDX reads one IDX file from r, raw or gzip-compressed (told apart by
// the gzip magic number, not by a name). It checks the header (the magic
// number, a known element type, one to 255 dimensions), that the data is
// exactly as long as the dimensions say, and, for gzip, the compressed
// stream's own checksum. Errors wrap ErrTruncated or ErrFormat.
func ReadIDX(r io.Reader) (*IDX, error) {
	x, err := readIDX(r, nil)
	if err != nil {
		return nil, fmt.Errorf("datasets: idx: %w", err)
	}
	return x, nil
}

// ReadIDXFile reads the IDX file at path as ReadIDX does. Errors are
// *FileError values naming the file.
func ReadIDXFile(path string) (*IDX, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, &FileError{Path: path, Err: openErr(err)}
	}
	defer f.Close()
	x, err := readIDX(f, nil)
	if err != nil {
		return nil, &FileError{Path: path, Err: err}
	}
	return x, nil
}

// WriteIDX writes x to w as a raw (uncompressed) IDX file; wrap w in a
// gzip.Writer for a .gz file. It checks that x is well formed.
func WriteIDX(w io.Writer, x *IDX) error {
	if x == nil {
		return errors.New("datasets: WriteIDX: nil IDX")
	}
	if x.Type.Size() == 0 {
		return fmt.Errorf("datasets: WriteIDX: unknown element type %v", x.Type)
	}
	if len(x.Dims) == 0 || len(x.Dims) > 255 {
		return fmt.Errorf("datasets: WriteIDX: %d dimensions; want 1 to 255", len(x.Dims))
	}
	hdr := make([]byte, 4+4*len(x.Dims))
	hdr[2], hdr[3] = byte(x.Type), byte(len(x.Dims))
	for i, d := range x.Dims {
		if d < 0 || uint64(d) > math.MaxUint32 {
			return fmt.Errorf("datasets: WriteIDX: dimension %d is %d", i, d)
		}
		binary.BigEndian.PutUint32(hdr[4+4*i:], uint32(d))
	}
	if want := x.Len() * x.Type.Size(); len(x.Data) != want {
		return fmt.Errorf("datasets: WriteIDX: dimensions %v of %v need %d bytes of data, have %d", x.Dims, x.Type, want, len(x.Data))
	}
	if _, err := w.Write(hdr); err != nil {
		return fmt.Errorf("datasets: WriteIDX: %w", err)
	}
	if _, err := w.Write(x.Data); err != nil {
		return fmt.Errorf("datasets: WriteIDX: %w", err)
	}
	return nil
}

// readIDX reads an IDX file, raw or gzip-compressed, and feeds its
// uncompressed bytes to h when h is not nil. Errors wrap ErrTruncated or
// ErrFormat (or are r's own read errors) and carry no prefix: the callers
// add the file's name.
func readIDX(r io.Reader, h hash.Hash) (*IDX, error) {
	br := bufio.NewReaderSize(r, 1<<16)
	var src io.Reader = br
	what := "file"
	if m, _ := br.Peek(2); len(m) == 2 && m[0] == 0x1f && m[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, readErr(err, "reading the gzip header")
		}
		defer zr.Close()
		src, what = zr, "decompressed data"
	}
	if h != nil {
		src = io.TeeReader(src, h)
	}
	var hdr [4]byte
	if n, err := io.ReadFull(src, hdr[:]); err != nil {
		if n == 0 && err == io.EOF {
			return nil, fmt.Errorf("%w: empty %s, no IDX header", ErrTruncated, what)
		}
		return nil, readErr(err, "reading the header: got %d of its 4 bytes", n)
	}
	if hdr[0] != 0 || hdr[1] != 0 {
		return nil, fmt.Errorf("%w: magic number 0x%08x does not start with two zero bytes: not an IDX file", ErrFormat, binary.BigEndian.Uint32(hdr[:]))
	}
	typ, nd := IDXType(hdr[2]), int(hdr[3])
	if typ.Size() == 0 {
		return nil, fmt.Errorf("%w: unknown element type 0x%02x in the magic number", ErrFormat, hdr[2])
	}
	if nd == 0 {
		return nil, fmt.Errorf("%w: the header declares no dimensions", ErrFormat)
	}
	dimBytes := make([]byte, 4*nd)
	if n, err := io.ReadFull(src, dimBytes); err != nil {
		return nil, readErr(err, "reading the header: got %d of the %d bytes of its %d dimensions", n, 4*nd, nd)
	}
	dims := make([]int, nd)
	for i := range dims {
		dims[i] = int(binary.BigEndian.Uint32(dimBytes[4*i:]))
	}
	size := uint64(typ.Size())
	for _, d := range dims {
		if d != 0 && size > maxIDXBytes/uint64(d) {
			return nil, fmt.Errorf("%w: dimensions %v of %v promise more than %d bytes", ErrFormat, dims, typ, uint64(maxIDXBytes))
		}
		size *= uint64(d)
	}
	var buf bytes.Buffer
	buf.Grow(int(min(size, 64<<20)))
	if got, err := io.CopyN(&buf, src, int64(size)); err != nil {
		return nil, readErr(err, "reading the data: got %d of the %d bytes that dimensions %v of %v promise", got, size, dims, typ)
	}
	// Read on to the end: for gzip this is where the checksum is checked.
	extra, err := io.Copy(io.Discard, src)
	if err != nil {
		return nil, readErr(err, "reading past the %d bytes of data", size)
	}
	if extra > 0 {
		return nil, fmt.Errorf("%w: %d bytes after the %d that dimensions %v of %v promise", ErrFormat, extra, size, dims, typ)
	}
	return &IDX{Type: typ, Dims: dims, Data: buf.Bytes()}, nil
}

// readErr classifies an error met while reading and says where it was met.
func readErr(err error, format string, args ...any) error {
	return fmt.Errorf("%w: %s", streamErr(err), fmt.Sprintf(format, args...))
}

// streamErr classifies an error met while reading: an early end is
// ErrTruncated, a damaged gzip stream ErrFormat; others pass through.
func streamErr(err error) error {
	var corrupt flate.CorruptInputError
	switch {
	case err == io.EOF || errors.Is(err, io.ErrUnexpectedEOF):
		return ErrTruncated
	case errors.Is(err, gzip.ErrChecksum), errors.Is(err, gzip.ErrHeader), errors.As(err, &corrupt):
		return fmt.Errorf("%w: %v", ErrFormat, err)
	}
	return err
}

// openErr maps a missing file to ErrNotFound.
func openErr(err error) error {
	if errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("%w: %w", ErrNotFound, err)
	}
	return err
}
