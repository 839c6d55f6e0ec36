package train

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func nan() float64 { return math.NaN() }

func TestHistoryTable(t *testing.T) {
	h := newHistory([]string{"accuracy", "mae"}, true)
	h.add(0, Logs{"loss": 0.61234, "accuracy": 0.78, "mae": 0.5, "val_loss": 0.47111, "val_accuracy": 0.86, "val_mae": 0.4}, 12*time.Millisecond)
	h.add(1, Logs{"loss": 0.4, "accuracy": 0.9, "mae": 0.3, "val_loss": 0.41, "val_accuracy": 0.88, "val_mae": 0.35}, 1500*time.Millisecond)
	want := strings.Join([]string{
		"epoch  loss    accuracy  mae     val_loss  val_accuracy  val_mae",
		"1      0.6123  0.7800    0.5000  0.4711    0.8600        0.4000",
		"2      0.4000  0.9000    0.3000  0.4100    0.8800        0.3500",
		"",
	}, "\n")
	var b strings.Builder
	assert.NoError(t, h.WriteTable(&b, false))
	assert.Equal(t, want, b.String())
	assert.Contains(t, h.String(), "val_mae  time\n")
	assert.Contains(t, h.String(), "0.3500   2s\n")
	assert.Equal(t, []float64{0.86, 0.88}, h.Get("val_accuracy"))
	assert.Equal(t, []float64{0.61234, 0.4}, h.Get("loss"))
	assert.Nil(t, h.Get("nope"))
	assert.Equal(t, 2, h.Len())

	plain := newHistory(nil, false)
	plain.add(0, Logs{"loss": 1}, time.Second)
	assert.Equal(t, []string{"loss"}, plain.Names())
	var nilH *History
	assert.Equal(t, 0, nilH.Len())
	assert.Equal(t, "(no history)\n", nilH.String())
}

// TestHistoryWriteTableBadInput checks that WriteTable returns an error for
// a nil writer, and prints a hand-made History whose columns are shorter
// than its epochs with "-" for what is missing, without panicking.
func TestHistoryWriteTableBadInput(t *testing.T) {
	h := newHistory([]string{"accuracy"}, false)
	h.add(0, Logs{"loss": 1, "accuracy": 0.5}, time.Second)
	var nilH *History
	for _, tc := range []struct {
		name string
		h    *History
	}{{"history", h}, {"nil history", nilH}} {
		err := tc.h.WriteTable(nil, true)
		require.Error(t, err, tc.name)
		assert.EqualError(t, err, "train: history: WriteTable: nil writer", tc.name)
	}

	ragged := &History{Epoch: []int{0, 1}, Loss: []float64{0.5}, Metrics: map[string][]float64{"acc": {0.25}}, Time: []time.Duration{time.Second}}
	var b strings.Builder
	require.NoError(t, ragged.WriteTable(&b, true))
	assert.Equal(t, strings.Join([]string{
		"epoch  loss    acc     time",
		"1      0.5000  0.2500  1s",
		"2      -       -       -",
		"",
	}, "\n"), b.String())
}
