package experiment

import (
	"fmt"
	"image/color"
	"io"
	"math"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"

	"github.com/tapegrad/tapegrad/train"
)

// series is one line of a chart.
type series struct {
	Name  string
	X, Y  []float64
	Color int // index into plotutil's palette
	Dash  int // index into plotutil's dashes
}

// chart is a line chart with its legend on the right.
type chart struct {
	Title, XLabel, YLabel string
	LogY                  bool
	Ref                   float64 // a grey horizontal line at this value when not 0
	XTicks                []float64
	Series                []series
}

// writePNG draws the chart and writes it to path, atomically. On a log
// axis, points it cannot show (≤ 0, NaN, ±Inf) are left out.
func (c chart) writePNG(path string) error {
	p := plot.New()
	p.Title.Text = c.Title
	p.X.Label.Text = c.XLabel
	// The y label is drawn here, not by the plot: gonum centres it at the
	// linear middle of the axis's range, which on a log axis is near the
	// top, and pads the plot down to make room for it.
	ySty := p.Y.Label.TextStyle
	ySty.Rotation = math.Pi / 2
	ySty.XAlign, ySty.YAlign = draw.XCenter, draw.YCenter
	p.Add(plotter.NewGrid())
	leg := plot.NewLegend()
	leg.Top, leg.Left = true, true
	leg.ThumbnailWidth = 0.5 * vg.Inch
	xmin, xmax := math.Inf(1), math.Inf(-1)
	points := 0
	for _, s := range c.Series {
		var xys plotter.XYs
		for i, y := range s.Y {
			if math.IsNaN(y) || math.IsInf(y, 0) || (c.LogY && y <= 0) {
				continue
			}
			xys = append(xys, plotter.XY{X: s.X[i], Y: y})
			xmin, xmax = math.Min(xmin, s.X[i]), math.Max(xmax, s.X[i])
		}
		if len(xys) == 0 {
			continue
		}
		points += len(xys)
		line, err := plotter.NewLine(xys)
		if err != nil {
			return err
		}
		line.Color = plotutil.Color(s.Color)
		line.Dashes = plotutil.Dashes(s.Dash)
		line.Width = vg.Points(1.5)
		p.Add(line)
		if len(xys) == 1 { // a single point draws no line: mark it
			sc, err := plotter.NewScatter(xys)
			if err != nil {
				return err
			}
			sc.Color = line.Color
			p.Add(sc)
		}
		leg.Add(s.Name, line)
	}
	if points > 0 {
		if c.Ref != 0 && xmax >= xmin {
			ref, err := plotter.NewLine(plotter.XYs{{X: xmin, Y: c.Ref}, {X: xmax, Y: c.Ref}})
			if err != nil {
				return err
			}
			ref.Color = color.Gray{Y: 128}
			ref.Width = vg.Points(0.75)
			p.Add(ref)
		}
		if c.LogY {
			p.Y.Scale = plot.LogScale{}
			p.Y.Tick.Marker = decadeTicks{}
		}
	}
	if len(c.XTicks) > 0 {
		var ts []plot.Tick
		for _, v := range c.XTicks {
			ts = append(ts, plot.Tick{Value: v, Label: strconv.FormatFloat(v, 'g', -1, 64)})
		}
		p.X.Tick.Marker = plot.ConstantTicks(ts)
	}

	// The legend's column is as wide as its longest entry.
	legendWidth := 1 * vg.Inch
	for _, s := range c.Series {
		legendWidth = max(legendWidth, leg.TextStyle.Width(s.Name)+leg.ThumbnailWidth+0.4*vg.Inch)
	}
	const width, height = 12 * vg.Inch, 6 * vg.Inch
	img := vgimg.NewWith(vgimg.UseWH(width, height), vgimg.UseDPI(96))
	dc := draw.New(img)
	labelWidth := vg.Length(0)
	if c.YLabel != "" {
		labelWidth = ySty.Height(c.YLabel) + 0.1*vg.Inch
		dc.FillText(ySty, vg.Point{X: labelWidth / 2, Y: height / 2}, c.YLabel)
	}
	p.Draw(draw.Crop(dc, labelWidth, -legendWidth, 0, 0))
	leg.Draw(draw.Crop(dc, width-legendWidth+0.1*vg.Inch, 0, 0, -0.4*vg.Inch))
	return writeFileAtomic(path, func(w io.Writer) error {
		_, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(w)
		return err
	})
}

// decadeTicks marks a log axis at powers of ten, labelled so that at most
// about ten carry a label.
type decadeTicks struct{}

// Ticks implements plot.Ticker.
func (decadeTicks) Ticks(min, max float64) []plot.Tick {
	if !(min > 0) || !(max >= min) || math.IsInf(max, 0) {
		return nil
	}
	lo, hi := int(math.Floor(math.Log10(min))), int(math.Ceil(math.Log10(max)))
	step := (hi-lo)/10 + 1
	var ts []plot.Tick
	for e := lo; e <= hi; e++ {
		v, err := strconv.ParseFloat("1e"+strconv.Itoa(e), 64)
		if err != nil {
			continue
		}
		if v >= min && v <= max {
			label := ""
			if e%step == 0 {
				label = strconv.FormatFloat(v, 'g', -1, 64)
			}
			ts = append(ts, plot.Tick{Value: v, Label: label})
		}
		if step == 1 { // minor ticks at 2…9 × 10^e, 2 and 5 labelled on a short axis
			for k := 2; k <= 9; k++ {
				m, err := strconv.ParseFloat(strconv.Itoa(k)+"e"+strconv.Itoa(e), 64)
				if err != nil || m < min || m > max {
					continue
				}
				label := ""
				if hi-lo <= 2 && (k == 2 || k == 5) {
					label = strconv.FormatFloat(m, 'g', -1, 64)
				}
				ts = append(ts, plot.Tick{Value: m, Label: label})
			}
		}
	}
	if len(ts) < 2 { // less than a decade: let gonum pick
		return plot.LogTicks{Prec: 2}.Ticks(min, max)
	}
	return ts
}

// writeFileAtomic writes a file with train.WriteFileAtomic: through a
// temporary file in the same directory, synced, renamed over path, and the
// directory synced, so that a reader sees the old file or the whole new
// one, never a part; temporary files of earlier writers that died are
// removed. On error the temporary file is removed and path is unchanged.
func writeFileAtomic(path string, write func(io.Writer) error) error {
	return train.WriteFileAtomic(path, func(w io.Writer) error {
		if err := write(w); err != nil {
			return fmt.Errorf("writing %s: %w", path, err)
		}
		return nil
	})
}

// seq returns 1, 2, …, n as float64s: the x values of per-layer or
// per-epoch series.
func seq(n int) []float64 {
	x := make([]float64, n)
	for i := range x {
		x[i] = float64(i + 1)
	}
	return x
}

// depthTicks picks the layers an axis or a table shows: 1, every tenth (or
// every 25th beyond 60 layers), and the last.
func depthTicks(n int) []int {
	step := 10
	if n > 60 {
		step = 25
	}
	ls := []int{1}
	for l := step; l <= n; l += step {
		ls = append(ls, l)
	}
	if ls[len(ls)-1] != n {
		ls = append(ls, n)
	}
	return ls
}

func floats(is []int) []float64 {
	f := make([]float64, len(is))
	for i, v := range is {
		f[i] = float64(v)
	}
	return f
}
