package experiment

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/tapegrad/tapegrad/train"
)

// Progress shows how far a run of the study is: on a terminal, one bar
// redrawn in place at most ten times a second,
//
//	[=========>..........................]  27%  23/84  activations: elu epoch 3/10  0:41
//
// and anywhere else one plain line per finished task (a net measured, an
// epoch trained):
//
//	study [23/84] 0:41 activations: elu epoch 3/10 - val_accuracy 0.9410
//
// A nil *Progress shows nothing.
type Progress struct {
	w     io.Writer
	tty   bool
	total int
	done  int
	start time.Time
	last  time.Time
	width int // of the last bar drawn, to blank it out
}

// NewProgress returns a progress display on w; tty selects the bar (use it
// when w is a terminal). A nil w gives a nil *Progress, which shows
// nothing.
func NewProgress(w io.Writer, tty bool) *Progress {
	if w == nil {
		return nil
	}
	return &Progress{w: w, tty: tty}
}

// begin starts the display for total tasks.
func (p *Progress) begin(total int) {
	if p == nil {
		return
	}
	p.total, p.done, p.start, p.last = total, 0, time.Now(), time.Time{}
}

// task records a finished task and shows it.
func (p *Progress) task(label string) {
	if p == nil {
		return
	}
	p.done++
	if p.tty {
		p.draw(label, 0, true)
		return
	}
	fmt.Fprintf(p.w, "study [%d/%d] %s %s\n", p.done, p.total, clock(time.Since(p.start)), label)
}

// partial shows progress within the current task (a fraction in [0, 1]),
// on a terminal only, and at most ten times a second.
func (p *Progress) partial(label string, frac float64) {
	if p == nil || !p.tty {
		return
	}
	if time.Since(p.last) < 100*time.Millisecond {
		return
	}
	p.draw(label, frac, false)
}

// end finishes the display: the bar's line is ended.
func (p *Progress) end() {
	if p == nil || !p.tty || p.width == 0 {
		return
	}
	fmt.Fprintln(p.w)
	p.width = 0
}

func (p *Progress) draw(label string, frac float64, force bool) {
	if !force && time.Since(p.last) < 100*time.Millisecond {
		return
	}
	p.last = time.Now()
	f := 0.0
	if p.total > 0 {
		f = (float64(p.done) + frac) / float64(p.total)
	}
	f = min(max(f, 0), 1)
	const barWidth = 30
	n := int(f * barWidth)
	bar := strings.Repeat("=", n)
	if n < barWidth {
		bar += ">" + strings.Repeat(".", barWidth-n-1)
	}
	line := fmt.Sprintf("\r[%s] %3d%%  %d/%d  %s  %s", bar, int(100*f), p.done, p.total, label, clock(time.Since(p.start)))
	pad := ""
	if w := len([]rune(line)); w < p.width {
		pad = strings.Repeat(" ", p.width-w)
	} else {
		p.width = w
	}
	fmt.Fprint(p.w, line+pad)
}

// clock prints a duration as m:ss.
func clock(d time.Duration) string {
	s := int(d.Round(time.Second) / time.Second)
	return fmt.Sprintf("%d:%02d", s/60, s%60)
}

// fitProgress is the Fit callback that reports each epoch as a task and
// the batches within it as partial progress.
type fitProgress struct {
	train.BaseCallback
	p     *Progress
	label string
}

func (f *fitProgress) OnBatchEnd(r *train.Run, batch int, _ train.Logs) error {
	if f.p != nil && f.p.tty && r.Steps > 0 {
		f.p.partial(f.label, float64(batch+1)/float64(r.Steps))
	}
	return nil
}

func (f *fitProgress) OnEpochEnd(r *train.Run, epoch int, logs train.Logs) error {
	if f.p == nil {
		return nil
	}
	label := fmt.Sprintf("%s epoch %d/%d", f.label, epoch+1, r.Epochs)
	if v, ok := logs["val_accuracy"]; ok {
		label += fmt.Sprintf(" - val_accuracy %.4f", v)
	}
	f.p.task(label)
	return nil
}
