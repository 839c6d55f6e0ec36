package datasets

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// idxBytes assembles an IDX file by hand: two zero bytes, the type, the
// number of dimensions, the dimensions big-endian, then data.
func idxBytes(typ byte, dims []uint32, data []byte) []byte {
	b := []byte{0, 0, typ, byte(len(dims))}
	for _, d := range dims {
		b = binary.BigEndian.AppendUint32(b, d)
	}
	return append(b, data...)
}

// gz compresses b.
func gz(t testing.TB, b []byte) []byte {
	t.Helper()
	var z bytes.Buffer
	w := gzip.NewWriter(&z)
	_, err := w.Write(b)
	require.NoError(t, err)
	require.NoError(t, w.Close())
	return z.Bytes()
}

func TestReadIDXTypes(t *testing.T) {
	be := binary.BigEndian
	tests := []struct {
		name string
		file []byte
		typ  IDXType
		dims []int
		want []float64
	}{
		{"ubyte", idxBytes(0x08, []uint32{3}, []byte{0, 7, 255}), IDXUint8, []int{3}, []float64{0, 7, 255}},
		{"byte", idxBytes(0x09, []uint32{3}, []byte{0, 0x7f, 0x80}), IDXInt8, []int{3}, []float64{0, 127, -128}},
		{"short", idxBytes(0x0B, []uint32{2}, []byte{0x01, 0x02, 0xff, 0xfe}), IDXInt16, []int{2}, []float64{258, -2}},
		{"int", idxBytes(0x0C, []uint32{1, 2}, be.AppendUint32(be.AppendUint32(nil, 70000), math.MaxUint32)), IDXInt32, []int{1, 2}, []float64{70000, -1}},
		{"float", idxBytes(0x0D, []uint32{1}, be.AppendUint32(nil, math.Float32bits(1.5))), IDXFloat32, []int{1}, []float64{1.5}},
		{"double", idxBytes(0x0E, []uint32{1, 1, 1}, be.AppendUint64(nil, math.Float64bits(-0.25))), IDXFloat64, []int{1, 1, 1}, []float64{-0.25}},
		{"empty dimension", idxBytes(0x08, []uint32{0, 28, 28}, nil), IDXUint8, []int{0, 28, 28}, []float64{}},
	}
	for _, tc := range tests {
		for _, comp := range []string{"raw", "gzip"} {
			t.Run(tc.name+"/"+comp, func(t *testing.T) {
				file := tc.file
				if comp == "gzip" {
					file = gz(t, file)
				}
				x, err := ReadIDX(bytes.NewReader(file))
				require.NoError(t, err)
				assert.Equal(t, tc.typ, x.Type)
				assert.Equal(t, tc.dims, x.Dims)
				assert.Equal(t, tc.want, x.Float64s())
				assert.Equal(t, len(tc.want), x.Len())
			})
		}
	}
}

// TestReadIDXFileTestdata reads the hand-made files in testdata.
func TestReadIDXFileTestdata(t *testing.T) {
	images := []float64{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 255}
	tests := []struct {
		file string
		dims []int
		want []float64
	}{
		{"tiny-images-idx3-ubyte", []int{2, 2, 3}, images},
		{"tiny-images-idx3-ubyte.gz", []int{2, 2, 3}, images},
		{"tiny-labels-idx1-ubyte", []int{2}, []float64{7, 3}},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			x, err := ReadIDXFile(filepath.Join("testdata", tc.file))
			require.NoError(t, err)
			assert.Equal(t, IDXUint8, x.Type)
			assert.Equal(t, tc.dims, x.Dims)
			assert.Equal(t, tc.want, x.Float64s())
		})
	}
}

// TestReadIDXTruncated cuts the hand-made files at every offset, raw and
// compressed: each cut is ErrTruncated, whatever part it falls in (header,
// dimensions, data; gzip header, deflate stream, gzip trailer).
func TestReadIDXTruncated(t *testing.T) {
	for _, name := range []string{"tiny-images-idx3-ubyte", "tiny-images-idx3-ubyte.gz", "tiny-labels-idx1-ubyte"} {
		full, err := os.ReadFile(filepath.Join("testdata", name))
		require.NoError(t, err)
		for cut := range len(full) {
			_, err := ReadIDX(bytes.NewReader(full[:cut]))
			require.Errorf(t, err, "%s cut at %d of %d bytes", name, cut, len(full))
			assert.ErrorIsf(t, err, ErrTruncated, "%s cut at %d of %d bytes: %v", name, cut, len(full), err)
		}
	}
}

func TestReadIDXTruncatedMessages(t *testing.T) {
	full := idxBytes(0x08, []uint32{2, 3}, []byte{1, 2, 3, 4, 5, 6})
	tests := []struct {
		name string
		cut  int
		msg  string
	}{
		{"empty", 0, "truncated: empty file, no IDX header"},
		{"in the magic number", 3, "truncated: reading the header: got 3 of its 4 bytes"},
		{"in the dimensions", 9, "truncated: reading the header: got 5 of the 8 bytes of its 2 dimensions"},
		{"in the data", 14, "truncated: reading the data: got 2 of the 6 bytes that dimensions [2 3] of ubyte promise"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ReadIDX(bytes.NewReader(full[:tc.cut]))
			require.Error(t, err)
			assert.Equal(t, "datasets: idx: "+tc.msg, err.Error())
		})
	}
}

func TestReadIDXCorrupt(t *testing.T) {
	good := idxBytes(0x08, []uint32{2, 2}, []byte{1, 2, 3, 4})
	goodGz := gz(t, good)
	flip := func(b []byte, i int) []byte {
		c := bytes.Clone(b)
		if i < 0 {
			i += len(c)
		}
		c[i] ^= 0xff
		return c
	}
	tests := []struct {
		name string
		file []byte
		msg  string // part of the message
	}{
		{"zip file", []byte("PK\x03\x04rest of a zip"), "magic number 0x504b0304"},
		{"text file", []byte("hello, world\n"), "not an IDX file"},
		{"one nonzero magic byte", append([]byte{0, 1}, good[2:]...), "does not start with two zero bytes"},
		{"unknown type", idxBytes(0x07, []uint32{1}, []byte{0}), "unknown element type 0x07"},
		{"no dimensions", idxBytes(0x08, nil, nil), "declares no dimensions"},
		{"trailing byte", append(bytes.Clone(good), 9), "1 bytes after the 4 that dimensions [2 2] of ubyte promise"},
		{"dimensions too large", idxBytes(0x0E, []uint32{math.MaxUint32, math.MaxUint32, math.MaxUint32}, nil), "promise more than"},
		{"gzip header", flip(goodGz, 2), "gzip: invalid header"},
		{"gzip stream", flip(goodGz, 12), ""},
		{"gzip crc", flip(goodGz, -6), "gzip: invalid checksum"},
		{"gzip size", flip(goodGz, -2), "gzip: invalid checksum"},
		{"gzip trailing bytes in the data", gz(t, append(bytes.Clone(good), 0, 0)), "2 bytes after"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			x, err := ReadIDX(bytes.NewReader(tc.file))
			require.Error(t, err)
			assert.Nil(t, x)
			assert.ErrorIs(t, err, ErrFormat)
			assert.NotErrorIs(t, err, ErrTruncated)
			assert.Contains(t, err.Error(), tc.msg)
			assert.True(t, strings.HasPrefix(err.Error(), "datasets: idx: corrupt: "), err.Error())
		})
	}
}

func TestReadIDXFileErrors(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "nothing-idx1-ubyte.gz")
	_, err := ReadIDXFile(missing)
	var fe *FileError
	require.ErrorAs(t, err, &fe)
	assert.Equal(t, missing, fe.Path)
	assert.ErrorIs(t, err, ErrNotFound)
	assert.Contains(t, err.Error(), missing)

	full, err := os.ReadFile(filepath.Join("testdata", "tiny-images-idx3-ubyte.gz"))
	require.NoError(t, err)
	cut := filepath.Join(dir, "cut.gz")
	require.NoError(t, os.WriteFile(cut, full[:len(full)-3], 0o644))
	_, err = ReadIDXFile(cut)
	require.ErrorAs(t, err, &fe)
	assert.Equal(t, cut, fe.Path)
	assert.ErrorIs(t, err, ErrTruncated)
	assert.True(t, strings.HasPrefix(err.Error(), "datasets: "+cut+": truncated"), err.Error())
}

func TestWriteIDX(t *testing.T) {
	t.Run("round trip", func(t *testing.T) {
		want := &IDX{Type: IDXInt16, Dims: []int{2, 1}, Data: []byte{0, 1, 0x80, 0}}
		var b bytes.Buffer
		require.NoError(t, WriteIDX(&b, want))
		assert.Equal(t, idxBytes(0x0B, []uint32{2, 1}, want.Data), b.Bytes())
		got, err := ReadIDX(&b)
		require.NoError(t, err)
		assert.Equal(t, want, got)
	})
	bad := []struct {
		name string
		x    *IDX
		msg  string
	}{
		{"nil", nil, "nil IDX"},
		{"unknown type", &IDX{Type: 1, Dims: []int{1}, Data: []byte{0}}, "unknown element type"},
		{"no dimensions", &IDX{Type: IDXUint8}, "0 dimensions"},
		{"negative dimension", &IDX{Type: IDXUint8, Dims: []int{-1}}, "dimension 0 is -1"},
		{"short data", &IDX{Type: IDXInt32, Dims: []int{2}, Data: make([]byte, 7)}, "need 8 bytes of data, have 7"},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			var b bytes.Buffer
			err := WriteIDX(&b, tc.x)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.msg)
			assert.Zero(t, b.Len(), "nothing written")
		})
	}
}

func TestIDXTypeString(t *testing.T) {
	for typ, want := range map[IDXType]string{IDXUint8: "ubyte", IDXInt8: "byte", IDXInt16: "short", IDXInt32: "int", IDXFloat32: "float", IDXFloat64: "double", 0x42: "idxtype(0x42)"} {
		assert.Equal(t, want, typ.String())
	}
	assert.Equal(t, 0, IDXType(0x42).Size())
}

// errorReader fails after its data, as a disk might.
type errorReader struct {
	data []byte
	err  error
}

func (r *errorReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, r.err
	}
	n := copy(p, r.data)
	r.data = r.data[n:]
	return n, nil
}

func TestReadIDXReadError(t *testing.T) {
	disk := errors.New("input/output error")
	full := idxBytes(0x08, []uint32{4}, []byte{1, 2, 3, 4})
	_, err := ReadIDX(&errorReader{data: full[:10], err: disk})
	assert.ErrorIs(t, err, disk)
	assert.NotErrorIs(t, err, ErrTruncated)
}
