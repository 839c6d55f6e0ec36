package train

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
)

// History is what Fit returns: one entry per completed epoch, as Keras's
// History.history. Epoch holds the epochs' numbers, counted from 0 as
// Keras's History.epoch does (progress lines and the table count from 1).
// Metrics and ValMetrics are keyed by the names given to Config.Metrics;
// ValLoss and ValMetrics are empty without validation data. Time is the
// wall time of each epoch, validation included.
type History struct {
	Epoch      []int
	Loss       []float64
	Metrics    map[string][]float64
	ValLoss    []float64
	ValMetrics map[string][]float64
	Time       []time.Duration

	order []string // the metrics in Config order
}

func newHistory(metrics []string, validation bool) *History {
	h := &History{Metrics: map[string][]float64{}, ValMetrics: map[string][]float64{}, order: metrics}
	for _, name := range metrics {
		h.Metrics[name] = nil
		if validation {
			h.ValMetrics[name] = nil
		}
	}
	return h
}

// Len is the number of epochs recorded.
func (h *History) Len() int {
	if h == nil {
		return 0
	}
	return len(h.Epoch)
}

// Get returns the values recorded under a Keras log name: "loss",
// "val_loss", a metric's name or "val_" and a metric's name; nil when
// there is no such name.
func (h *History) Get(name string) []float64 {
	if h == nil {
		return nil
	}
	switch {
	case name == "loss":
		return h.Loss
	case name == "val_loss":
		return h.ValLoss
	case strings.HasPrefix(name, "val_"):
		return h.ValMetrics[strings.TrimPrefix(name, "val_")]
	}
	return h.Metrics[name]
}

// Names returns the log names the history holds, in Keras's order: loss,
// the metrics (in Config.Metrics order), val_loss, the validation metrics.
func (h *History) Names() []string {
	if h == nil {
		return nil
	}
	metrics := h.order
	if len(metrics) != len(h.Metrics) {
		metrics = sortedKeys(h.Metrics)
	}
	names := append([]string{"loss"}, metrics...)
	if len(h.ValLoss) > 0 {
		names = append(names, "val_loss")
		for _, k := range metrics {
			if _, ok := h.ValMetrics[k]; ok {
				names = append(names, "val_"+k)
			}
		}
	}
	return names
}

// add records one epoch.
func (h *History) add(epoch int, logs Logs, d time.Duration) {
	h.Epoch = append(h.Epoch, epoch)
	h.Loss = append(h.Loss, logs["loss"])
	for k := range h.Metrics {
		h.Metrics[k] = append(h.Metrics[k], logs[k])
	}
	if v, ok := logs["val_loss"]; ok {
		h.ValLoss = append(h.ValLoss, v)
	}
	for k := range h.ValMetrics {
		if v, ok := logs["val_"+k]; ok {
			h.ValMetrics[k] = append(h.ValMetrics[k], v)
		}
	}
	h.Time = append(h.Time, d)
}

// String returns the history as a table, one row per epoch:
//
//	epoch  loss    accuracy  val_loss  val_accuracy  time
//	1      0.6120  0.7800    0.4711    0.8600        12ms
//	2      0.4005  0.8900    0.4102    0.8800        11ms
func (h *History) String() string {
	var b strings.Builder
	h.WriteTable(&b, true)
	return b.String()
}

// WriteTable writes the history as a table to w, with a column of epoch
// times when withTime is set (leave it out for output that must not vary
// between runs). A nil w is an error.
func (h *History) WriteTable(w io.Writer, withTime bool) error {
	if w == nil {
		return errors.New("train: history: WriteTable: nil writer")
	}
	if h == nil {
		_, err := io.WriteString(w, "(no history)\n")
		return err
	}
	names := h.Names()
	header := append([]string{"epoch"}, names...)
	if withTime {
		header = append(header, "time")
	}
	table := [][]string{header}
	for i, e := range h.Epoch {
		row := []string{fmt.Sprint(e + 1)}
		for _, n := range names {
			v := h.Get(n)
			if i < len(v) {
				row = append(row, fmt.Sprintf("%.4f", v[i]))
			} else {
				row = append(row, "-")
			}
		}
		if withTime {
			if i < len(h.Time) {
				row = append(row, string(appendDuration(nil, h.Time[i])))
			} else {
				row = append(row, "-")
			}
		}
		table = append(table, row)
	}
	widths := make([]int, len(header))
	for _, row := range table {
		for j, c := range row {
			widths[j] = max(widths[j], len(c))
		}
	}
	var b strings.Builder
	for _, row := range table {
		for j, c := range row {
			if j == len(row)-1 {
				b.WriteString(c)
			} else {
				fmt.Fprintf(&b, "%-*s  ", widths[j], c)
			}
		}
		b.WriteByte('\n')
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// sortedKeys returns a map's keys, sorted.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
