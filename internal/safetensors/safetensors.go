package safetensors

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/bits"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// ErrFormat is wrapped by every error Parse returns for a malformed file,
// and by Write for tensors it cannot write.
var ErrFormat = errors.New("safetensors: invalid file")

// MaxHeaderSize is the largest header Parse accepts, the reference
// implementation's limit (100 MB).
const MaxHeaderSize = 100_000_000

// MetadataKey is the reserved header entry that holds the string metadata.
const MetadataKey = "__metadata__"

// DType is an element type as the format spells it ("F32").
type DType string

// The element types of the format. tapegrad writes F32 and F64; Parse
// knows the others so that it can validate any file.
const (
	BOOL   DType = "BOOL"
	U8     DType = "U8"
	I8     DType = "I8"
	F8E5M2 DType = "F8_E5M2"
	F8E4M3 DType = "F8_E4M3"
	I16    DType = "I16"
	U16    DType = "U16"
	F16    DType = "F16"
	BF16   DType = "BF16"
	I32    DType = "I32"
	U32    DType = "U32"
	F32    DType = "F32"
	F64    DType = "F64"
	I64    DType = "I64"
	U64    DType = "U64"
)

var dtypeSizes = map[DType]int{
	BOOL: 1, U8: 1, I8: 1, F8E5M2: 1, F8E4M3: 1,
	I16: 2, U16: 2, F16: 2, BF16: 2,
	I32: 4, U32: 4, F32: 4,
	F64: 8, I64: 8, U64: 8,
}

// Size is the size of one element in bytes, 0 for an unknown dtype.
func (d DType) Size() int { return dtypeSizes[d] }

// Tensor is one entry of a file: its name, element type, shape and raw
// little-endian bytes, row-major.
type Tensor struct {
	Name  string
	DType DType
	Shape []int
	Data  []byte
}

// File is a parsed file: its string metadata and its tensors in the order
// of their data (by offset).
type File struct {
	Metadata map[string]string
	Tensors  []Tensor
}

// Tensor returns the tensor of that name.
func (f *File) Tensor(name string) (Tensor, bool) {
	for _, t := range f.Tensors {
		if t.Name == name {
			return t, true
		}
	}
	return Tensor{}, false
}

// formatErr returns an ErrFormat error, naming the entry when there is one.
func formatErr(entry, format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	if entry != "" {
		msg = fmt.Sprintf("entry %q: %s", entry, msg)
	}
	return fmt.Errorf("%w: %s", ErrFormat, msg)
}

// byteSize returns the number of bytes of a tensor of dtype and shape, or
// an error when a dimension is negative or the size overflows.
func byteSize(d DType, shape []int) (uint64, error) {
	n := uint64(d.Size())
	for _, s := range shape {
		if s < 0 {
			return 0, fmt.Errorf("shape %v has a negative dimension", shape)
		}
		hi, lo := bits.Mul64(n, uint64(s))
		if hi != 0 {
			return 0, fmt.Errorf("shape %v: the size overflows", shape)
		}
		n = lo
	}
	return n, nil
}

// Write writes tensors and metadata to w in the safetensors format: the
// tensors ordered by decreasing element size and then by name (each is
// then aligned on its element size), the header padded with spaces so that
// the data starts at a multiple of 8 bytes. It returns an error wrapping
// ErrFormat, before writing anything, for an empty or duplicate name, the
// name "__metadata__", an unknown dtype or data whose length does not
// match dtype × shape; and the writer's errors.
func Write(w io.Writer, tensors []Tensor, meta map[string]string) error {
	order := make([]int, len(tensors))
	seen := make(map[string]bool, len(tensors))
	for i, t := range tensors {
		order[i] = i
		switch {
		case t.Name == "":
			return formatErr("", "tensor %d has an empty name", i)
		case t.Name == MetadataKey:
			return formatErr(t.Name, "the name is reserved for the metadata")
		case seen[t.Name]:
			return formatErr(t.Name, "two tensors have this name")
		case t.DType.Size() == 0:
			return formatErr(t.Name, "unknown dtype %q", t.DType)
		case !utf8.ValidString(t.Name):
			return formatErr(t.Name, "the name is not valid UTF-8")
		}
		seen[t.Name] = true
		n, err := byteSize(t.DType, t.Shape)
		if err != nil {
			return formatErr(t.Name, "%v", err)
		}
		if n != uint64(len(t.Data)) {
			return formatErr(t.Name, "%d bytes of data for %s%v: want %d", len(t.Data), t.DType, t.Shape, n)
		}
	}
	for k, v := range meta {
		if !utf8.ValidString(k) || !utf8.ValidString(v) {
			return formatErr(MetadataKey, "key %q or its value is not valid UTF-8", k)
		}
	}
	slices.SortFunc(order, func(a, b int) int {
		ta, tb := &tensors[a], &tensors[b]
		if sa, sb := ta.DType.Size(), tb.DType.Size(); sa != sb {
			return sb - sa
		}
		return strings.Compare(ta.Name, tb.Name)
	})

	var h bytes.Buffer
	h.WriteByte('{')
	first := true
	sep := func() {
		if !first {
			h.WriteByte(',')
		}
		first = false
	}
	if len(meta) > 0 {
		sep()
		writeJSONString(&h, MetadataKey)
		h.WriteString(":{")
		keys := make([]string, 0, len(meta))
		for k := range meta {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for i, k := range keys {
			if i > 0 {
				h.WriteByte(',')
			}
			writeJSONString(&h, k)
			h.WriteByte(':')
			writeJSONString(&h, meta[k])
		}
		h.WriteByte('}')
	}
	var off uint64
	for _, i := range order {
		t := &tensors[i]
		sep()
		writeJSONString(&h, t.Name)
		h.WriteString(`:{"dtype":`)
		writeJSONString(&h, string(t.DType))
		h.WriteString(`,"shape":[`)
		for j, d := range t.Shape {
			if j > 0 {
				h.WriteByte(',')
			}
			h.WriteString(strconv.Itoa(d))
		}
		end := off + uint64(len(t.Data))
		fmt.Fprintf(&h, `],"data_offsets":[%d,%d]}`, off, end)
		off = end
	}
	h.WriteByte('}')
	for h.Len()%8 != 0 {
		h.WriteByte(' ')
	}
	if h.Len() > MaxHeaderSize {
		return formatErr("", "header of %d bytes: above the limit of %d", h.Len(), MaxHeaderSize)
	}
	var n [8]byte
	binary.LittleEndian.PutUint64(n[:], uint64(h.Len()))
	if _, err := w.Write(n[:]); err != nil {
		return err
	}
	if _, err := w.Write(h.Bytes()); err != nil {
		return err
	}
	for _, i := range order {
		if _, err := w.Write(tensors[i].Data); err != nil {
			return err
		}
	}
	return nil
}

// writeJSONString writes s as a JSON string.
func writeJSONString(b *bytes.Buffer, s string) {
	q, _ := json.Marshal(s) // a valid UTF-8 string always marshals
	b.Write(q)
}

// Parse reads a whole file from b and validates it (see the package
// documentation for what is checked). The tensors' Data alias b. Every
// error wraps ErrFormat and names the entry at fault.
func Parse(b []byte) (*File, error) {
	if len(b) < 8 {
		return nil, formatErr("", "%d bytes: too short for the 8-byte header length", len(b))
	}
	n := binary.LittleEndian.Uint64(b[:8])
	switch {
	case n > MaxHeaderSize:
		return nil, formatErr("", "header length %d: above the limit of %d", n, MaxHeaderSize)
	case n > uint64(len(b)-8):
		return nil, formatErr("", "header length %d: beyond the end of the file (%d bytes after the length)", n, len(b)-8)
	case n < 2:
		return nil, formatErr("", "header length %d: too short for a JSON object", n)
	}
	header, data := b[8:8+n], b[8+n:]
	if !utf8.Valid(header) {
		return nil, formatErr("", "the header is not valid UTF-8")
	}
	if header[0] != '{' {
		return nil, formatErr("", "the header does not start with '{'")
	}
	type entry struct {
		name       string
		dtype      DType
		shape      []int
		begin, end uint64
	}
	var (
		entries []entry
		meta    map[string]string
	)
	p := &parser{dec: json.NewDecoder(bytes.NewReader(header))}
	p.dec.UseNumber()
	seen := map[string]bool{}
	err := p.object("", func(key string) error {
		if seen[key] {
			return formatErr(key, "the name occurs twice in the header")
		}
		seen[key] = true
		if key == MetadataKey {
			m, err := p.metadata()
			if err != nil {
				return err
			}
			meta = m
			return nil
		}
		e := entry{name: key}
		var have [3]bool
		err := p.object(key, func(field string) error {
			var i int
			switch field {
			case "dtype":
				i = 0
			case "shape":
				i = 1
			case "data_offsets":
				i = 2
			default:
				return formatErr(key, "unknown field %q (want dtype, shape and data_offsets)", field)
			}
			if have[i] {
				return formatErr(key, "field %q occurs twice", field)
			}
			have[i] = true
			switch i {
			case 0:
				s, err := p.str(key, "dtype")
				if err != nil {
					return err
				}
				e.dtype = DType(s)
				if e.dtype.Size() == 0 {
					return formatErr(key, "unknown dtype %q", s)
				}
			case 1:
				dims, err := p.uints(key, "shape", -1)
				if err != nil {
					return err
				}
				e.shape = make([]int, len(dims))
				for j, d := range dims {
					if d > math.MaxInt {
						return formatErr(key, "shape dimension %d is too large", d)
					}
					e.shape[j] = int(d)
				}
			case 2:
				offs, err := p.uints(key, "data_offsets", 2)
				if err != nil {
					return err
				}
				e.begin, e.end = offs[0], offs[1]
			}
			return nil
		})
		if err != nil {
			return err
		}
		for i, f := range []string{"dtype", "shape", "data_offsets"} {
			if !have[i] {
				return formatErr(key, "missing field %q", f)
			}
		}
		entries = append(entries, e)
		return nil
	})
	if err != nil {
		return nil, err
	}
	// after the object: only whitespace (Write pads with spaces)
	rest := header[p.dec.InputOffset():]
	if len(bytes.TrimLeft(rest, " \t\r\n")) != 0 {
		return nil, formatErr("", "bytes after the header's JSON object")
	}

	for _, e := range entries {
		size, err := byteSize(e.dtype, e.shape)
		if err != nil {
			return nil, formatErr(e.name, "%v", err)
		}
		switch {
		case e.end < e.begin:
			return nil, formatErr(e.name, "data_offsets [%d, %d]: the end is before the beginning", e.begin, e.end)
		case e.end > uint64(len(data)):
			return nil, formatErr(e.name, "data_offsets [%d, %d]: beyond the data section of %d bytes (truncated file?)", e.begin, e.end, len(data))
		case e.end-e.begin != size:
			return nil, formatErr(e.name, "data_offsets [%d, %d] hold %d bytes: %s%v needs %d", e.begin, e.end, e.end-e.begin, e.dtype, e.shape, size)
		}
	}
	slices.SortStableFunc(entries, func(a, b entry) int {
		if a.begin != b.begin {
			return cmpUint(a.begin, b.begin)
		}
		return cmpUint(a.end, b.end)
	})
	var pos uint64
	for i, e := range entries {
		switch {
		case e.begin > pos:
			return nil, formatErr(e.name, "data_offsets [%d, %d]: a gap of %d bytes before it", e.begin, e.end, e.begin-pos)
		case e.begin < pos:
			return nil, formatErr(e.name, "data_offsets [%d, %d] overlap entry %q", e.begin, e.end, entries[i-1].name)
		}
		pos = e.end
	}
	if pos != uint64(len(data)) {
		return nil, formatErr("", "%d bytes of data after the last tensor", uint64(len(data))-pos)
	}
	f := &File{Metadata: meta, Tensors: make([]Tensor, len(entries))}
	for i, e := range entries {
		f.Tensors[i] = Tensor{Name: e.name, DType: e.dtype, Shape: e.shape, Data: data[e.begin:e.end:e.end]}
	}
	return f, nil
}

func cmpUint(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// parser reads the header's JSON token by token, so that duplicate keys
// are seen (encoding/json's maps would keep the last silently).
type parser struct{ dec *json.Decoder }

// token returns the next token, an ErrFormat error naming entry on
// malformed JSON.
func (p *parser) token(entry string) (json.Token, error) {
	t, err := p.dec.Token()
	if err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, formatErr(entry, "malformed JSON header: unexpected end (a wrong header length, or a truncated header)")
		}
		return nil, formatErr(entry, "malformed JSON header: %v", err)
	}
	return t, nil
}

// object reads a JSON object, calling field for each key with the decoder
// positioned at its value (which field must consume).
func (p *parser) object(entry string, field func(key string) error) error {
	t, err := p.token(entry)
	if err != nil {
		return err
	}
	if d, ok := t.(json.Delim); !ok || d != '{' {
		return formatErr(entry, "want a JSON object, got %v", describe(t))
	}
	for p.dec.More() {
		t, err := p.token(entry)
		if err != nil {
			return err
		}
		key, ok := t.(string)
		if !ok {
			return formatErr(entry, "malformed JSON header: key %v", describe(t))
		}
		if err := field(key); err != nil {
			return err
		}
	}
	_, err = p.token(entry) // '}'
	return err
}

// metadata reads the "__metadata__" object: string keys to string values.
func (p *parser) metadata() (map[string]string, error) {
	m := map[string]string{}
	err := p.object(MetadataKey, func(key string) error {
		if _, dup := m[key]; dup {
			return formatErr(MetadataKey, "key %q occurs twice", key)
		}
		v, err := p.str(MetadataKey, key)
		if err != nil {
			return err
		}
		m[key] = v
		return nil
	})
	return m, err
}

// str reads a JSON string.
func (p *parser) str(entry, what string) (string, error) {
	t, err := p.token(entry)
	if err != nil {
		return "", err
	}
	s, ok := t.(string)
	if !ok {
		return "", formatErr(entry, "%s: want a string, got %v", what, describe(t))
	}
	return s, nil
}

// uints reads a JSON array of non-negative integers; n ≥ 0 is the length
// it must have.
func (p *parser) uints(entry, what string, n int) ([]uint64, error) {
	t, err := p.token(entry)
	if err != nil {
		return nil, err
	}
	if d, ok := t.(json.Delim); !ok || d != '[' {
		return nil, formatErr(entry, "%s: want an array, got %v", what, describe(t))
	}
	out := []uint64{}
	for p.dec.More() {
		t, err := p.token(entry)
		if err != nil {
			return nil, err
		}
		num, ok := t.(json.Number)
		if !ok {
			return nil, formatErr(entry, "%s: want non-negative integers, got %v", what, describe(t))
		}
		v, err := strconv.ParseUint(string(num), 10, 64)
		if err != nil {
			return nil, formatErr(entry, "%s: want non-negative integers, got %s", what, num)
		}
		out = append(out, v)
	}
	if _, err := p.token(entry); err != nil { // ']'
		return nil, err
	}
	if n >= 0 && len(out) != n {
		return nil, formatErr(entry, "%s: want %d values, got %d", what, n, len(out))
	}
	return out, nil
}

// describe prints a JSON token for an error message.
func describe(t json.Token) string {
	switch v := t.(type) {
	case json.Delim:
		return fmt.Sprintf("'%v'", v)
	case string:
		return strconv.Quote(v)
	case nil:
		return "null"
	}
	return fmt.Sprint(t)
}

// Float32Bytes returns the little-endian bytes of v.
func Float32Bytes(v []float32) []byte {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
	}
	return b
}

// Float64Bytes returns the little-endian bytes of v.
func Float64Bytes(v []float64) []byte {
	b := make([]byte, 8*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint64(b[8*i:], math.Float64bits(x))
	}
	return b
}

// Float32s decodes an F32 tensor.
func (t Tensor) Float32s() ([]float32, error) {
	if t.DType != F32 || len(t.Data)%4 != 0 {
		return nil, fmt.Errorf("safetensors: tensor %q is %s of %d bytes, not F32", t.Name, t.DType, len(t.Data))
	}
	out := make([]float32, len(t.Data)/4)
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(t.Data[4*i:]))
	}
	return out, nil
}

// Float64s decodes an F32 or F64 tensor as float64 (F32 values exactly).
func (t Tensor) Float64s() ([]float64, error) {
	switch {
	case t.DType == F64 && len(t.Data)%8 == 0:
		out := make([]float64, len(t.Data)/8)
		for i := range out {
			out[i] = math.Float64frombits(binary.LittleEndian.Uint64(t.Data[8*i:]))
		}
		return out, nil
	case t.DType == F32:
		f, err := t.Float32s()
		if err != nil {
			return nil, err
		}
		out := make([]float64, len(f))
		for i, x := range f {
			out[i] = float64(x)
		}
		return out, nil
	}
	return nil, fmt.Errorf("safetensors: tensor %q is %s of %d bytes, not F32 or F64", t.Name, t.DType, len(t.Data))
}
