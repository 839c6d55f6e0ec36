package safetensors

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// sample returns tensors of both float dtypes and awkward shapes: a
// scalar, an empty tensor, names that need JSON escaping.
func sample() []Tensor {
	return []Tensor{
		{Name: "dense/kernel", DType: F32, Shape: []int{2, 3}, Data: Float32Bytes([]float32{1, -2, 3.5, float32(math.Inf(1)), float32(math.Copysign(0, -1)), 1e-45})},
		{Name: "dense/bias", DType: F32, Shape: []int{3}, Data: Float32Bytes([]float32{0.1, 0.2, 0.3})},
		{Name: "rng/counter", DType: F64, Shape: []int{}, Data: Float64Bytes([]float64{42})},
		{Name: "bn/moving_variance", DType: F64, Shape: []int{1, 2}, Data: Float64Bytes([]float64{math.Pi, math.SmallestNonzeroFloat64})},
		{Name: "empty", DType: F32, Shape: []int{0, 4}, Data: []byte{}},
		{Name: `odd "name" \ ü`, DType: F64, Shape: []int{1}, Data: Float64Bytes([]float64{-1})},
	}
}

func write(t *testing.T, tensors []Tensor, meta map[string]string) []byte {
	t.Helper()
	var b bytes.Buffer
	require.NoError(t, Write(&b, tensors, meta))
	return b.Bytes()
}

// A file we write parses back to the same tensors and metadata, laid out
// as the reference implementation lays it out: the header padded to a
// multiple of 8, the tensors by decreasing element size and then by name,
// contiguous.
func TestRoundTrip(t *testing.T) {
	meta := map[string]string{"format": "pt", "note": "ünïcode \"quoted\"\n"}
	b := write(t, sample(), meta)
	n := binary.LittleEndian.Uint64(b[:8])
	assert.Zero(t, (8+n)%8, "the data starts 8-aligned")
	f, err := Parse(b)
	require.NoError(t, err)
	assert.Equal(t, meta, f.Metadata)
	var names []string
	var pos int
	for _, tt := range f.Tensors {
		names = append(names, tt.Name)
		off := int(8+n) + pos
		assert.Zero(t, off%tt.DType.Size(), "%s is aligned", tt.Name)
		pos += len(tt.Data)
	}
	assert.Equal(t, []string{"bn/moving_variance", `odd "name" \ ü`, "rng/counter", "dense/bias", "dense/kernel", "empty"}, names)
	assert.Equal(t, int(8+n)+pos, len(b))
	for _, want := range sample() {
		got, ok := f.Tensor(want.Name)
		require.True(t, ok, want.Name)
		assert.Equal(t, want.DType, got.DType, want.Name)
		assert.Equal(t, want.Shape, got.Shape, want.Name)
		assert.Equal(t, want.Data, got.Data, want.Name)
	}
	v, err := f.Tensors[0].Float64s()
	require.NoError(t, err)
	assert.Equal(t, []float64{math.Pi, math.SmallestNonzeroFloat64}, v)
	k, _ := f.Tensor("dense/kernel")
	w, err := k.Float32s()
	require.NoError(t, err)
	assert.Equal(t, []float32{1, -2, 3.5, float32(math.Inf(1)), 0, 1e-45}, w)
	assert.True(t, math.Signbit(float64(w[4])), "-0 is kept")

	// no tensors, no metadata: the smallest file
	b = write(t, nil, nil)
	assert.Equal(t, "{}      ", string(b[8:]))
	f, err = Parse(b)
	require.NoError(t, err)
	assert.Empty(t, f.Tensors)
	assert.Nil(t, f.Metadata)
}

func TestWriteErrors(t *testing.T) {
	ok := Tensor{Name: "a", DType: F32, Shape: []int{1}, Data: make([]byte, 4)}
	tests := []struct {
		name    string
		tensors []Tensor
		meta    map[string]string
		want    string
	}{
		{"empty name", []Tensor{{DType: F32, Shape: []int{}, Data: make([]byte, 4)}}, nil, "tensor 0 has an empty name"},
		{"reserved name", []Tensor{{Name: MetadataKey, DType: F32, Shape: []int{}, Data: make([]byte, 4)}}, nil, `entry "__metadata__": the name is reserved`},
		{"duplicate", []Tensor{ok, ok}, nil, `entry "a": two tensors have this name`},
		{"unknown dtype", []Tensor{{Name: "a", DType: "F31", Shape: []int{1}, Data: make([]byte, 4)}}, nil, `entry "a": unknown dtype "F31"`},
		{"short data", []Tensor{{Name: "a", DType: F64, Shape: []int{2}, Data: make([]byte, 12)}}, nil, `entry "a": 12 bytes of data for F64[2]: want 16`},
		{"negative dim", []Tensor{{Name: "a", DType: F64, Shape: []int{-1}}}, nil, "negative dimension"},
		{"overflow", []Tensor{{Name: "a", DType: F64, Shape: []int{1 << 62, 1 << 62}}}, nil, "the size overflows"},
		{"bad utf-8", []Tensor{{Name: "a\xff", DType: F32, Shape: []int{1}, Data: make([]byte, 4)}}, nil, "not valid UTF-8"},
		{"bad utf-8 metadata", []Tensor{ok}, map[string]string{"k": "\xfe"}, `key "k" or its value is not valid UTF-8`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var b bytes.Buffer
			err := Write(&b, tc.tensors, tc.meta)
			require.Error(t, err)
			assert.ErrorIs(t, err, ErrFormat)
			assert.Contains(t, err.Error(), tc.want)
			assert.Zero(t, b.Len(), "nothing written")
		})
	}
}

// file builds a file by hand from a header and data.
func file(header string, data []byte) []byte {
	b := binary.LittleEndian.AppendUint64(nil, uint64(len(header)))
	return append(append(b, header...), data...)
}

// Malformed files, one defect each, are rejected with an error that wraps
// ErrFormat and says what is wrong and where.
func TestParseErrors(t *testing.T) {
	d8 := make([]byte, 8)
	tests := []struct {
		name string
		b    []byte
		want string
	}{
		{"empty file", nil, "0 bytes: too short"},
		{"seven bytes", make([]byte, 7), "7 bytes: too short"},
		{"header beyond the file", binary.LittleEndian.AppendUint64(nil, 100), "header length 100: beyond the end of the file (0 bytes"},
		{"header too large", binary.LittleEndian.AppendUint64(nil, MaxHeaderSize+1), "above the limit"},
		{"huge header length", binary.LittleEndian.AppendUint64(nil, math.MaxUint64), "above the limit"},
		{"header too short", file("{", nil), "too short for a JSON object"},
		{"not utf-8", file("{\"\xff\":1}", nil), "not valid UTF-8"},
		{"leading space", file(` {}`, nil), "does not start with '{'"},
		{"not an object", file(`[]`, nil), "does not start with '{'"},
		{"malformed JSON", file(`{"a":}`, nil), "malformed JSON header"},
		{"unterminated", file(`{"a":{"dtype":"F32"`, nil), `entry "a": malformed JSON header: unexpected end (a wrong header length`},
		{"trailing bytes", file(`{} x`, nil), "bytes after the header's JSON object"},
		{"second object", file(`{}{}`, nil), "bytes after the header's JSON object"},
		{"tensor not an object", file(`{"a":[1]}`, nil), `entry "a": want a JSON object, got '['`},
		{"duplicate tensor", file(`{"a":{"dtype":"F32","shape":[],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[],"data_offsets":[4,8]}}`, d8), `entry "a": the name occurs twice`},
		{"duplicate metadata", file(`{"__metadata__":{},"__metadata__":{}}`, nil), `entry "__metadata__": the name occurs twice`},
		{"duplicate metadata key", file(`{"__metadata__":{"k":"1","k":"2"}}`, nil), `entry "__metadata__": key "k" occurs twice`},
		{"metadata not string", file(`{"__metadata__":{"k":1}}`, nil), `entry "__metadata__": k: want a string, got 1`},
		{"metadata null", file(`{"__metadata__":null}`, nil), `entry "__metadata__": want a JSON object, got null`},
		{"duplicate field", file(`{"a":{"dtype":"F32","dtype":"F32","shape":[],"data_offsets":[0,4]}}`, d8[:4]), `entry "a": field "dtype" occurs twice`},
		{"unknown field", file(`{"a":{"dtype":"F32","shape":[],"data_offsets":[0,4],"x":1}}`, d8[:4]), `entry "a": unknown field "x"`},
		{"missing dtype", file(`{"a":{"shape":[],"data_offsets":[0,4]}}`, d8[:4]), `entry "a": missing field "dtype"`},
		{"missing shape", file(`{"a":{"dtype":"F32","data_offsets":[0,4]}}`, d8[:4]), `entry "a": missing field "shape"`},
		{"missing offsets", file(`{"a":{"dtype":"F32","shape":[]}}`, d8[:4]), `entry "a": missing field "data_offsets"`},
		{"unknown dtype", file(`{"a":{"dtype":"F33","shape":[],"data_offsets":[0,4]}}`, d8[:4]), `entry "a": unknown dtype "F33"`},
		{"dtype not a string", file(`{"a":{"dtype":4,"shape":[],"data_offsets":[0,4]}}`, d8[:4]), `entry "a": dtype: want a string, got 4`},
		{"negative dim", file(`{"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}`, d8[:4]), `entry "a": shape: want non-negative integers, got -1`},
		{"fractional dim", file(`{"a":{"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}}`, d8[:4]), `got 1.5`},
		{"exponent dim", file(`{"a":{"dtype":"F32","shape":[1e0],"data_offsets":[0,4]}}`, d8[:4]), `got 1e0`},
		{"string dim", file(`{"a":{"dtype":"F32","shape":["1"],"data_offsets":[0,4]}}`, d8[:4]), `got "1"`},
		{"shape not array", file(`{"a":{"dtype":"F32","shape":1,"data_offsets":[0,4]}}`, d8[:4]), `entry "a": shape: want an array, got 1`},
		{"one offset", file(`{"a":{"dtype":"F32","shape":[],"data_offsets":[0]}}`, d8[:4]), `entry "a": data_offsets: want 2 values, got 1`},
		{"offset too large", file(`{"a":{"dtype":"F32","shape":[],"data_offsets":[0,18446744073709551616]}}`, d8[:4]), `got 18446744073709551616`},
		{"reversed offsets", file(`{"a":{"dtype":"F32","shape":[0],"data_offsets":[4,0]}}`, d8[:4]), `entry "a": data_offsets [4, 0]: the end is before the beginning`},
		{"size mismatch", file(`{"a":{"dtype":"F64","shape":[1],"data_offsets":[0,4]}}`, d8[:4]), `entry "a": data_offsets [0, 4] hold 4 bytes: F64[1] needs 8`},
		{"size overflow", file(`{"a":{"dtype":"F64","shape":[4294967296,4294967296],"data_offsets":[0,8]}}`, d8), `entry "a": shape [4294967296 4294967296]: the size overflows`},
		{"beyond the data", file(`{"a":{"dtype":"F64","shape":[2],"data_offsets":[0,16]}}`, d8), `entry "a": data_offsets [0, 16]: beyond the data section of 8 bytes (truncated file?)`},
		{"gap", file(`{"a":{"dtype":"F32","shape":[],"data_offsets":[4,8]}}`, d8), `entry "a": data_offsets [4, 8]: a gap of 4 bytes before it`},
		{"overlap", file(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[],"data_offsets":[4,8]}}`, d8), `entry "b": data_offsets [4, 8] overlap entry "a"`},
		{"same bytes twice", file(`{"a":{"dtype":"F32","shape":[],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[],"data_offsets":[0,4]}}`, d8[:4]), `overlap entry`},
		{"trailing data", file(`{"a":{"dtype":"F32","shape":[],"data_offsets":[0,4]}}`, d8), "4 bytes of data after the last tensor"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var err error
			require.NotPanics(t, func() { _, err = Parse(tc.b) })
			require.Error(t, err)
			assert.True(t, errors.Is(err, ErrFormat), "%v does not wrap ErrFormat", err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}

// Files the format allows and a reader must take.
func TestParseAccepts(t *testing.T) {
	d := Float32Bytes([]float32{1, 2})
	for _, tc := range []struct {
		name string
		b    []byte
	}{
		{"trailing JSON whitespace", file("{}\n\t\r ", nil)},
		{"whitespace inside", file(`{ "a" : { "data_offsets" : [ 0 , 8 ] , "shape" : [ 2 ] , "dtype" : "F32" } }`, d)},
		{"any order of entries", file(`{"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]},"__metadata__":{},"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}`, d)},
		{"zero-size tensors anywhere", file(`{"e":{"dtype":"F64","shape":[0,7],"data_offsets":[8,8]},"a":{"dtype":"BF16","shape":[4],"data_offsets":[0,8]},"f":{"dtype":"I8","shape":[0],"data_offsets":[0,0]}}`, d)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse(tc.b)
			assert.NoError(t, err)
		})
	}
}

// Truncating a valid file anywhere makes it invalid: the header length and
// the offsets fix its size exactly.
func TestParseTruncated(t *testing.T) {
	b := write(t, sample(), map[string]string{"k": "v"})
	for n := range len(b) {
		var err error
		require.NotPanics(t, func() { _, err = Parse(b[:n]) }, "truncated to %d bytes", n)
		require.Error(t, err, "truncated to %d of %d bytes", n, len(b))
		require.ErrorIs(t, err, ErrFormat)
	}
	// and extending it too
	_, err := Parse(append(append([]byte{}, b...), 0))
	require.ErrorContains(t, err, "1 bytes of data after the last tensor")
}

// Flipping any bit of the header never panics and never goes unnoticed:
// the file is rejected, or (a changed name or metadata value, which only
// the checkpoint's own checks can catch) parses to something different.
func TestParseBitFlips(t *testing.T) {
	b := write(t, sample(), map[string]string{"k": "v"})
	orig, err := Parse(b)
	require.NoError(t, err)
	n := int(binary.LittleEndian.Uint64(b[:8]))
	rejected, changed := 0, 0
	for i := range 8 + n {
		for bit := range 8 {
			c := append([]byte{}, b...)
			c[i] ^= 1 << bit
			var f *File
			var err error
			require.NotPanics(t, func() { f, err = Parse(c) }, "byte %d bit %d", i, bit)
			if err != nil {
				require.ErrorIs(t, err, ErrFormat)
				rejected++
				continue
			}
			require.False(t, sameFile(orig, f), "byte %d (%q) bit %d: parsed to the same file", i, b[i], bit)
			changed++
		}
	}
	t.Logf("%d flips rejected, %d parsed to another file", rejected, changed)
	assert.Greater(t, rejected, 4*changed, "most flips are rejected outright")
}

func sameFile(a, b *File) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return bytes.Equal(ja, jb)
}

// FuzzParse: no input makes Parse panic, and whatever it accepts Write
// writes back to a file that parses to the same content.
func FuzzParse(f *testing.F) {
	var b bytes.Buffer
	if err := Write(&b, sample(), map[string]string{"k": "v"}); err != nil {
		f.Fatal(err)
	}
	f.Add(b.Bytes())
	f.Add(file(`{"a":{"dtype":"F32","shape":[],"data_offsets":[0,4]}}`, make([]byte, 4)))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := Parse(data)
		if err != nil {
			if !errors.Is(err, ErrFormat) {
				t.Fatalf("error %v does not wrap ErrFormat", err)
			}
			return
		}
		var out bytes.Buffer
		if err := Write(&out, p.Tensors, p.Metadata); err != nil {
			if strings.Contains(err.Error(), "reserved") || strings.Contains(err.Error(), "empty name") {
				return // Parse takes names Write refuses to make
			}
			t.Fatalf("rewrite: %v", err)
		}
		q, err := Parse(out.Bytes())
		if err != nil {
			t.Fatalf("reparse: %v", err)
		}
		if len(p.Tensors) != len(q.Tensors) {
			t.Fatalf("%d tensors, then %d", len(p.Tensors), len(q.Tensors))
		}
		for _, tt := range p.Tensors {
			u, ok := q.Tensor(tt.Name)
			if !ok || u.DType != tt.DType || !bytes.Equal(u.Data, tt.Data) {
				t.Fatalf("tensor %q changed in the round trip", tt.Name)
			}
		}
	})
}
