// Package autodiff builds gradients: symbolic reverse mode over tapegrad's
// graphs, and a finite-difference checker for the gradients it builds.
//
// # Gradients are nodes
//
//	grads, err := autodiff.Grad(loss, w, b) // ∂loss/∂w, ∂loss/∂b
//
// Grad does not compute anything. It walks the graph backwards from a
// scalar loss and adds, to the same graph, the nodes that compute the
// gradient of the loss with respect to each wrt node, using each op's
// gradient rule (its VJP, defined next to the op in package nodes and
// written with the same builders). The result is ordinary nodes: they are
// compiled together with the forward pass (one program for a training step,
// in which the compiler may share, fold and fuse across forward and
// backward), printed, exported to DOT, and differentiated again for second
// derivatives.
//
// Gradient nodes are named under the scope "gradients" (then "gradients_1"
// for a second call), followed by the scope of the node they come from:
// the gradient of "dense_1/matmul" is built in "gradients/dense_1".
//
// # Rules
//
//   - Only the part of the graph between the wrt nodes and the loss is
//     visited; a node read by several others gets the sum of their
//     gradients (fan-out accumulates with Add).
//   - Broadcasting is undone: the gradient of an operand that was broadcast
//     is summed back to its shape (nodes.SumTo), so every gradient has the
//     shape of its wrt node.
//   - nodes.StopGradient blocks the flow: what is behind it is a constant.
//   - An op without a gradient rule (a comparison, OneHot) on the only paths
//     from a wrt node to the loss is an error that names the op and says
//     why; so is a wrt node the loss does not depend on, unless
//     Options.AllowUnused asks for zeros instead.
//   - Grad needs a scalar loss; GradWith takes an explicit upstream
//     gradient (Options.Seed) for any output: a vector–Jacobian product.
//
// Errors from building gradients are sticky like the rest of the graph:
// Grad first returns the graph's builder error if it has one (the same
// value as graph.Err), and anything it refuses (a non-scalar loss, a wrt
// the loss does not depend on, a path only through ops without a gradient,
// a bad seed, a nil wrt or one of another graph) or meets while building
// the gradient nodes is recorded on the loss's graph, as an *graph.OpError
// of op "grad" (or of the op whose gradient rule failed), and returned: the
// graph's later builder calls are no-ops, and compile.Compile returns that
// error. Only a nil loss, which has no graph, is returned without being
// recorded. Nothing panics on user input; a gradient rule that panics (a bug
// in tapegrad) is turned into an error naming the op.
//
// # Checking gradients
//
// Check compares the gradients Grad builds with central finite differences
// (gonum's diff/fd), element by element, for wrt nodes that are inputs (a
// copy of the feeds is perturbed) or variables (the store's value is
// perturbed and restored). The error of an element is
// |analytic − numeric| / max(1, |analytic|, |numeric|); Check returns a
// Report with the worst element overall and per wrt node, and an error when
// the worst exceeds the tolerance. The differences are taken in the graph's
// dtype, so a rigorous check builds the graph in float64 (central
// differences in float64): the defaults are a step of 1e-6 and a tolerance
// of 1e-6 in float64, and 1e-2 and 1e-2 in float32, whose round-off swamps
// finer differences, which makes a float32 check a smoke test only. Away from
// kinks (see package nodes) the check is exact to round-off; at a kink the
// finite difference straddles two branches and is not a reference.
package autodiff
