package datasets

import (
	"bytes"
	"compress/gzip"
	"testing"
)

// FuzzReadIDX reads random and mutated IDX files, raw and gzip-compressed.
// The property: no panic, no hang; ReadIDX returns an IDX or an error that
// wraps ErrTruncated or ErrFormat; what it accepts is well formed (its
// data as long as its dimensions say), decodes, and writes back (WriteIDX)
// to the same bytes it was read from.
//
//	go test ./datasets -run XXX -fuzz FuzzReadIDX -fuzztime 30s
func FuzzReadIDX(f *testing.F) {
	for _, x := range []*IDX{
		{Type: IDXUint8, Dims: []int{2, 3}, Data: []byte{1, 2, 3, 4, 5, 6}},
		{Type: IDXInt16, Dims: []int{2}, Data: []byte{0xff, 0xfe, 0, 1}},
		{Type: IDXFloat64, Dims: []int{1, 1, 1}, Data: []byte{0x3f, 0xf0, 0, 0, 0, 0, 0, 0}},
		{Type: IDXInt32, Dims: []int{0, 5}, Data: nil},
	} {
		var raw bytes.Buffer
		if err := WriteIDX(&raw, x); err != nil {
			f.Fatal(err)
		}
		f.Add(raw.Bytes())
		var z bytes.Buffer
		zw := gzip.NewWriter(&z)
		zw.Write(raw.Bytes())
		zw.Close()
		f.Add(z.Bytes())
	}
	f.Add([]byte{0, 0, 8, 1, 0xff, 0xff, 0xff, 0xff}) // promises 4 GB
	f.Add([]byte{0, 0, 8})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		x, err := ReadIDX(bytes.NewReader(data))
		if err != nil {
			return
		}
		if got, want := len(x.Data), x.Len()*x.Type.Size(); got != want {
			t.Fatalf("ReadIDX accepted %d bytes of data for dimensions %v of %v (%d bytes)", got, x.Dims, x.Type, want)
		}
		if n := len(x.Float64s()); n != x.Len() {
			t.Fatalf("Float64s gave %d values for %d elements", n, x.Len())
		}
		var out bytes.Buffer
		if err := WriteIDX(&out, x); err != nil {
			t.Fatalf("WriteIDX of what ReadIDX accepted: %v", err)
		}
		raw := data
		if len(data) >= 2 && data[0] == 0x1f && data[1] == 0x8b {
			return // compressed: the raw bytes are inside the gzip stream
		}
		if !bytes.Equal(out.Bytes(), raw) {
			t.Fatalf("WriteIDX(ReadIDX(b)) != b")
		}
	})
}
