package testutil_test

import (
	"fmt"

	"github.com/tapegrad/tapegrad/graph"
	"github.com/tapegrad/tapegrad/internal/testutil"
	"github.com/tapegrad/tapegrad/nodes"
)

// The value and gradient of y = x² for x = [1, 2, 3] with upstream 1.
func ExampleRunVJP() {
	x := testutil.Value{Name: "x", Shape: []int{3}, Data: []float64{1, 2, 3}}
	y, grads, err := testutil.RunVJP(graph.Float64, []testutil.Value{x}, []float64{1, 1, 1},
		func(_ *graph.Graph, in []*graph.Node) *graph.Node { return nodes.Square(in[0]) })
	fmt.Println(y.Data, grads[0].Data, err)
	// Output: [1 4 9] [2 4 6] <nil>
}
