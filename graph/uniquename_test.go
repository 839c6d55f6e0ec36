package graph

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// UniqueNameAt with odd paths and bases: a fresh name every time, the
// graph's open scopes left as they were, no panic.
func TestUniqueNameAtOddInput(t *testing.T) {
	g := New(Float64)
	restore := g.EnterScope("outer")
	defer restore()
	seen := map[string]bool{}
	for _, tc := range []struct{ path, base, want string }{
		{"", "", ""},
		{"", "", "_1"},
		{"a//b", "x", "x"},
		{"a//b", "x", "x_1"},
		{"/", "y", "y"},
		{"dense", "kernel", "kernel"},
		{"dense", "kernel", "kernel_1"},
	} {
		got := g.UniqueNameAt(tc.path, tc.base)
		assert.Equal(t, tc.want, got, "UniqueNameAt(%q, %q)", tc.path, tc.base)
		key := tc.path + "|" + got
		assert.False(t, seen[key], "UniqueNameAt(%q, %q) gave %q twice", tc.path, tc.base, got)
		seen[key] = true
	}
	assert.Equal(t, "z", g.UniqueName("z"), "the open scope changed")
	n := g.Input("z", Shape{1})
	assert.Equal(t, "outer/z", n.Name(), "a node named after UniqueNameAt calls is not in the scope that was open")
}
