package train

import (
	"io"
	"math"
	"os"
	"strconv"
	"time"

	"golang.org/x/term"
)

// isTerminal reports whether w is a terminal (golang.org/x/term asks the
// tty driver). A variable so that tests can pretend.
var isTerminal = func(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok || f == nil {
		return false
	}
	return term.IsTerminal(int(f.Fd()))
}

// progressInterval is the shortest time between two redraws of the bar.
const progressInterval = 100 * time.Millisecond

// progress is the callback behind FitOptions.Progress, Keras's
// ProgbarLogger. On a terminal it prints "Epoch 3/10" and then a bar
// redrawn in place (with \r) at most ten times a second:
//
//	188/1719 [==>...........................] - ETA: 4s - loss: 0.5021 - accuracy: 0.8312
//
// ending, when the epoch is over, with its time and the validation values:
//
//	1719/1719 [==============================] - 5s 3ms/step - loss: 0.4987 - accuracy: 0.8320 - val_loss: 0.4410 - val_accuracy: 0.8452
//
// Anywhere else (a file, a pipe, a buffer) it prints one line per epoch:
//
//	Epoch 3/10 - 1719/1719 - 5s 3ms/step - loss: 0.4987 - accuracy: 0.8320 - val_loss: 0.4410 - val_accuracy: 0.8452
type progress struct {
	BaseCallback
	w       io.Writer
	tty     bool
	start   time.Time // of the epoch
	last    time.Time // last redraw
	done    int       // batches done in the epoch
	open    bool      // a bar line is drawn and not ended
	lineLen int
	buf     []byte
}

func newProgress(w io.Writer) *progress {
	return &progress{w: w, tty: isTerminal(w)}
}

// OnEpochBegin prints the epoch's header on a terminal.
func (p *progress) OnEpochBegin(r *Run, epoch int) error {
	p.start, p.last, p.done = time.Now(), time.Time{}, 0
	if p.tty {
		p.buf = p.epochHeader(p.buf[:0], r, epoch)
		p.buf = append(p.buf, '\n')
		p.flush()
	}
	return nil
}

// OnBatchEnd redraws the bar, at most every progressInterval.
func (p *progress) OnBatchEnd(r *Run, batch int, logs Logs) error {
	p.done = batch + 1
	if !p.tty || p.done == r.Steps {
		return nil
	}
	now := time.Now()
	if now.Sub(p.last) < progressInterval {
		return nil
	}
	p.last = now
	p.buf = append(p.buf[:0], '\r')
	p.buf = p.bar(p.buf, r)
	elapsed := now.Sub(p.start)
	eta := time.Duration(float64(elapsed) / float64(p.done) * float64(r.Steps-p.done))
	p.buf = append(p.buf, " - ETA: "...)
	p.buf = appendETA(p.buf, eta)
	p.buf = appendLogs(p.buf, r, logs, false)
	p.pad()
	p.open = true
	p.flush()
	return nil
}

// OnEpochEnd prints the epoch's final line.
func (p *progress) OnEpochEnd(r *Run, epoch int, logs Logs) error {
	elapsed := time.Since(p.start)
	p.buf = p.buf[:0]
	if p.tty {
		p.buf = append(p.buf, '\r')
		p.buf = p.bar(p.buf, r)
	} else {
		p.buf = p.epochHeader(p.buf, r, epoch)
		p.buf = append(p.buf, " - "...)
		p.buf = p.count(p.buf, r)
	}
	p.buf = append(p.buf, " - "...)
	p.buf = appendDuration(p.buf, elapsed)
	p.buf = append(p.buf, ' ')
	p.buf = appendDuration(p.buf, elapsed/time.Duration(max(p.done, 1)))
	p.buf = append(p.buf, "/step"...)
	p.buf = appendLogs(p.buf, r, logs, true)
	if p.tty {
		p.pad()
	}
	p.buf = append(p.buf, '\n')
	p.open = false
	p.lineLen = 0
	p.flush()
	return nil
}

// OnTrainEnd ends a bar left drawn by an interrupted epoch.
func (p *progress) OnTrainEnd(*Run, Logs) error {
	if p.open {
		p.buf = append(p.buf[:0], '\n')
		p.open = false
		p.flush()
	}
	return nil
}

func (p *progress) epochHeader(b []byte, r *Run, epoch int) []byte {
	b = append(b, "Epoch "...)
	b = strconv.AppendInt(b, int64(epoch+1), 10)
	b = append(b, '/')
	return strconv.AppendInt(b, int64(r.Epochs), 10)
}

// count appends " 188/1719", the count right-aligned to the total's width.
func (p *progress) count(b []byte, r *Run) []byte {
	total := strconv.Itoa(r.Steps)
	done := strconv.Itoa(p.done)
	for i := len(done); i < len(total); i++ {
		b = append(b, ' ')
	}
	b = append(b, done...)
	b = append(b, '/')
	return append(b, total...)
}

// bar appends " 188/1719 [==>.....]" (30 wide, Keras's).
func (p *progress) bar(b []byte, r *Run) []byte {
	const width = 30
	b = p.count(b, r)
	b = append(b, " ["...)
	filled := 0
	if r.Steps > 0 {
		filled = width * p.done / r.Steps
	}
	for i := 0; i < width; i++ {
		switch {
		case i < filled-1 || i == filled-1 && p.done >= r.Steps:
			b = append(b, '=')
		case i == filled-1:
			b = append(b, '>')
		default:
			b = append(b, '.')
		}
	}
	return append(b, ']')
}

// pad blanks what is left of a longer previous line.
func (p *progress) pad() {
	n := len(p.buf)
	if p.buf[0] == '\r' {
		n--
	}
	for i := n; i < p.lineLen; i++ {
		p.buf = append(p.buf, ' ')
	}
	p.lineLen = n
}

func (p *progress) flush() {
	// a progress display must not stop training: write errors are dropped
	_, _ = p.w.Write(p.buf)
}

// appendLogs appends " - loss: 0.5021 - accuracy: 0.8312" in Keras's order,
// with the validation values when val is set.
func appendLogs(b []byte, r *Run, logs Logs, val bool) []byte {
	add := func(name string) {
		v, ok := logs[name]
		if !ok {
			return
		}
		b = append(b, " - "...)
		b = append(b, name...)
		b = append(b, ": "...)
		b = appendValue(b, v)
	}
	add("loss")
	for _, m := range r.metrics {
		add(m)
	}
	if val && r.Validation {
		add("val_loss")
		for _, m := range r.metrics {
			add("val_" + m)
		}
	}
	return b
}

// appendValue formats a logged value as Keras does: 4 decimals, or
// scientific notation below 1e-3.
func appendValue(b []byte, v float64) []byte {
	if math.Abs(v) > 1e-3 || v == 0 || math.IsNaN(v) {
		return strconv.AppendFloat(b, v, 'f', 4, 64)
	}
	return strconv.AppendFloat(b, v, 'e', 4, 64)
}

// appendETA formats an ETA as Keras does: 4s, 2:05, 1:02:05.
func appendETA(b []byte, d time.Duration) []byte {
	s := int64(d.Round(time.Second) / time.Second)
	switch {
	case s >= 3600:
		b = strconv.AppendInt(b, s/3600, 10)
		b = append(b, ':')
		b = append2(b, s%3600/60)
		b = append(b, ':')
		return append2(b, s%60)
	case s >= 60:
		b = strconv.AppendInt(b, s/60, 10)
		b = append(b, ':')
		return append2(b, s%60)
	}
	b = strconv.AppendInt(b, s, 10)
	return append(b, 's')
}

func append2(b []byte, v int64) []byte {
	if v < 10 {
		b = append(b, '0')
	}
	return strconv.AppendInt(b, v, 10)
}

// appendDuration formats a time as Keras's progress bar does: whole
// seconds from 1s up, milliseconds below, microseconds below 1ms.
func appendDuration(b []byte, d time.Duration) []byte {
	switch {
	case d >= time.Second:
		b = strconv.AppendInt(b, int64(d.Round(time.Second)/time.Second), 10)
		return append(b, 's')
	case d >= time.Millisecond:
		b = strconv.AppendInt(b, int64(d.Round(time.Millisecond)/time.Millisecond), 10)
		return append(b, "ms"...)
	}
	b = strconv.AppendInt(b, int64(d.Round(time.Microsecond)/time.Microsecond), 10)
	return append(b, "us"...)
}
