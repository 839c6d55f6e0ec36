package diagnostics

import (
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
	"text/tabwriter"
)

// String returns the report as a table, one row per layer:
//
//	layer    class       act   units  mean     std     zeros  dead   sat   grad norm  kernel grad
//	dense    Dense       relu  300    0.2861   0.4215  54.1%  0.0%   -     0.01672    0.08361
//	dense_1  Dense       relu  100    0.3019   0.4930  48.8%  1.0%   -     0.02413    0.04427
func (r Report) String() string {
	var b strings.Builder
	_ = r.WriteTable(&b)
	return b.String()
}

// WriteTable writes the report as a table to w (see String), preceded by a
// line that gives the rows, the mode and the loss. It returns w's first
// error; a nil w is an error.
func (r Report) WriteTable(w io.Writer) error {
	if w == nil {
		return errors.New("diagnostics: Report.WriteTable: nil writer")
	}
	head := fmt.Sprintf("%d rows, %s mode", r.Rows, r.Mode)
	if r.Epoch != 0 {
		head = fmt.Sprintf("epoch %d, %s", r.Epoch, head)
	}
	if r.Grads {
		head += fmt.Sprintf(", loss %s", Num(r.Loss))
	}
	if _, err := fmt.Fprintln(w, head); err != nil {
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "layer\tclass\tact\tunits\tmean\tstd\tzeros\tdead\tsat\tgrad norm\tkernel grad\t")
	for _, l := range r.Layers {
		act := l.Activation
		if act == "" {
			act = "-"
		}
		sat := "-"
		if l.Saturable() {
			sat = Percent(l.Saturated)
		}
		grad, kgrad := "-", "-"
		if r.Grads {
			grad = Num(l.GradNorm)
			if l.HasKernel {
				kgrad = Num(l.KernelGradNorm)
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n",
			l.Name, l.Class, act, l.Units, Num(l.Mean), Num(l.Std),
			Percent(l.Zeros), Percent(l.Dead), sat, grad, kgrad)
	}
	return tw.Flush()
}

// Num formats a statistic with about four significant digits, in plain
// notation where that is readable and in exponent notation otherwise.
func Num(v float64) string {
	a := math.Abs(v)
	switch {
	case math.IsNaN(v) || math.IsInf(v, 0):
		return fmt.Sprint(v)
	case a == 0:
		return "0"
	case a >= 1e-3 && a < 1e4:
		return fmt.Sprintf("%.4f", v)
	default:
		return fmt.Sprintf("%.3g", v)
	}
}

// Percent formats a share as a percentage with one decimal ("12.5%").
func Percent(v float64) string {
	if math.IsNaN(v) {
		return "NaN"
	}
	return fmt.Sprintf("%.1f%%", 100*v)
}
