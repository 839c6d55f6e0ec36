package graph

import (
	"strconv"
	"strings"
)

// Batch marks the open leading dimension of an input: the batch size, left
// unknown until the graph is run. It may appear only as dimension 0.
const Batch = -1

// DType is the element type of every value of a graph.
type DType uint8

// The two element types a graph may have.
const (
	Float32 DType = iota + 1
	Float64
)

// String returns "f32" or "f64".
func (d DType) String() string {
	switch d {
	case Float32:
		return "f32"
	case Float64:
		return "f64"
	}
	return "dtype(" + strconv.Itoa(int(d)) + ")"
}

// Size is the number of bytes of one element.
func (d DType) Size() int {
	switch d {
	case Float32:
		return 4
	case Float64:
		return 8
	}
	return 0
}

// Valid reports whether d is Float32 or Float64.
func (d DType) Valid() bool { return d == Float32 || d == Float64 }

// Shape is the list of dimensions of a value, outermost first. A scalar has
// the empty shape. A dimension equal to Batch is the open batch dimension.
type Shape []int

// Rank is the number of dimensions.
func (s Shape) Rank() int { return len(s) }

// Size is the number of elements; -1 when the shape has an open dimension.
func (s Shape) Size() int {
	n := 1
	for _, d := range s {
		if d < 0 {
			return -1
		}
		n *= d
	}
	return n
}

// IsOpen reports whether s has an open (Batch) dimension.
func (s Shape) IsOpen() bool {
	for _, d := range s {
		if d < 0 {
			return true
		}
	}
	return false
}

// Equal reports whether s and t have the same dimensions.
func (s Shape) Equal(t Shape) bool {
	if len(s) != len(t) {
		return false
	}
	for i := range s {
		if s[i] != t[i] {
			return false
		}
	}
	return true
}

// Clone returns a copy of s that shares no memory with it.
func (s Shape) Clone() Shape {
	if s == nil {
		return nil
	}
	return append(Shape{}, s...)
}

// WithBatch returns s with every open dimension replaced by n.
func (s Shape) WithBatch(n int) Shape {
	t := s.Clone()
	for i, d := range t {
		if d == Batch {
			t[i] = n
		}
	}
	return t
}

// String formats s as "[B,784]"; the open dimension prints as B.
func (s Shape) String() string {
	var b strings.Builder
	b.WriteByte('[')
	for i, d := range s {
		if i > 0 {
			b.WriteByte(',')
		}
		if d == Batch {
			b.WriteByte('B')
		} else {
			b.WriteString(strconv.Itoa(d))
		}
	}
	b.WriteByte(']')
	return b.String()
}
