package graph

import (
	"errors"
	"fmt"
	"strings"
)

// Sentinel errors, matched with errors.Is against an *OpError or any error the
// packages of tapegrad return.
var (
	// ErrShape: input shapes do not fit the op's shape rule.
	ErrShape = errors.New("shape mismatch")
	// ErrArg: a hyper-parameter or argument is invalid (a negative axis out
	// of range, an unknown activation name, a duplicate name).
	ErrArg = errors.New("invalid argument")
	// ErrNil: a nil node was passed where a node is needed.
	ErrNil = errors.New("nil node")
	// ErrForeign: a node of another graph was passed.
	ErrForeign = errors.New("node from another graph")
	// ErrDType: a value has the wrong element type.
	ErrDType = errors.New("wrong dtype")
	// ErrGradient: a gradient cannot be built.
	ErrGradient = errors.New("no gradient")
)

// OpError is the first error of a graph: it names the op, the node being
// built and the shapes of its inputs.
type OpError struct {
	Op     string  // the op's name: "matmul"
	Node   string  // the name the node would have had: "dense_1/matmul"
	Inputs []Shape // shapes of the inputs (nil entries for nil inputs)
	DType  DType
	Msg    string // what is wrong: "inner dimensions 784 and 300 differ"
	Kind   error  // one of the sentinels (ErrShape, ErrArg, ...)
	Caller string // file:line of the user code that made the call, if known
}

// Error formats the error as
// `graph: matmul "dense_1/matmul": inner dimensions 784 and 300 differ (inputs f32[B,784], f32[300,10]; at model.go:12)`.
func (e *OpError) Error() string {
	var b strings.Builder
	if e.Node == "" {
		fmt.Fprintf(&b, "graph: %s: %s", e.Op, e.Msg)
	} else {
		fmt.Fprintf(&b, "graph: %s %q: %s", e.Op, e.Node, e.Msg)
	}
	var extra []string
	if len(e.Inputs) > 0 {
		parts := make([]string, len(e.Inputs))
		for i, s := range e.Inputs {
			if s == nil {
				parts[i] = "nil"
			} else {
				parts[i] = e.DType.String() + s.String()
			}
		}
		extra = append(extra, "inputs "+strings.Join(parts, ", "))
	}
	if e.Caller != "" {
		extra = append(extra, "at "+e.Caller)
	}
	if len(extra) > 0 {
		b.WriteString(" (" + strings.Join(extra, "; ") + ")")
	}
	return b.String()
}

// Unwrap returns the sentinel kind, so errors.Is(err, graph.ErrShape) works.
func (e *OpError) Unwrap() error { return e.Kind }

// Errorf returns an error of the given kind for a shape rule to return; the
// graph turns it into an *OpError with the node's name and input shapes.
func Errorf(kind error, format string, args ...any) error {
	return &kindError{kind: kind, msg: fmt.Sprintf(format, args...)}
}

type kindError struct {
	kind error
	msg  string
}

func (e *kindError) Error() string { return e.msg }
func (e *kindError) Unwrap() error { return e.kind }
