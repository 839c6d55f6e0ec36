package train

import (
	"bytes"
	"context"
	"io"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestProgressPlain(t *testing.T) {
	x, y := blobs(100, 30)
	m := blobModel(t, 1, nil)
	var out bytes.Buffer
	_, err := m.Fit(context.Background(), x, y, FitOptions{Epochs: 3, BatchSize: 16, ValidationSplit: 0.2, Progress: &out})
	require.NoError(t, err)
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	require.Len(t, lines, 3, "one line per epoch:\n%s", out.String())
	line := regexp.MustCompile(`^Epoch (\d)/3 - 5/5 - \d+(s|ms|us) \d+(s|ms|us)/step - loss: \d\.\d{4} - accuracy: \d\.\d{4} - val_loss: \d\.\d{4} - val_accuracy: \d\.\d{4}$`)
	for i, l := range lines {
		mm := line.FindStringSubmatch(l)
		require.NotNil(t, mm, "line %q", l)
		assert.Equal(t, string(rune('1'+i)), mm[1])
	}
	assert.NotContains(t, out.String(), "\r")
}

func TestProgressTerminal(t *testing.T) {
	saved := isTerminal
	isTerminal = func(io.Writer) bool { return true }
	defer func() { isTerminal = saved }()

	x, y := blobs(64, 31)
	m := blobModel(t, 1, nil)
	var out bytes.Buffer
	slow := LambdaCallback{BatchEnd: func(*Run, int, Logs) error {
		time.Sleep(progressInterval + 5*time.Millisecond) // every batch is drawn
		return nil
	}}
	_, err := m.Fit(context.Background(), x, y, FitOptions{Epochs: 2, BatchSize: 16, Progress: &out, Callbacks: []Callback{slow}})
	require.NoError(t, err)
	s := out.String()
	assert.True(t, strings.HasPrefix(s, "Epoch 1/2\n"), "%q", s)
	assert.Contains(t, s, "\nEpoch 2/2\n")
	assert.Contains(t, s, "\r1/4 ["+strings.Repeat("=", 6)+">"+strings.Repeat(".", 23)+"] - ETA: ")
	assert.Contains(t, s, "\r3/4 ["+strings.Repeat("=", 21)+">"+strings.Repeat(".", 8)+"] - ETA: ")
	assert.Regexp(t, `\r4/4 \[==============================\] - \d+(s|ms|us) \d+(s|ms|us)/step - loss: \d\.\d{4} - accuracy: \d\.\d{4} *\n`, s)
	assert.True(t, strings.HasSuffix(s, "\n"))
}

func TestProgressInterrupted(t *testing.T) {
	saved := isTerminal
	isTerminal = func(io.Writer) bool { return true }
	defer func() { isTerminal = saved }()
	x, y := blobs(64, 31)
	m := blobModel(t, 1, nil)
	var out bytes.Buffer
	ctx, cancel := context.WithCancel(context.Background())
	_, err := m.Fit(ctx, x, y, FitOptions{Epochs: 2, BatchSize: 16, Progress: &out, Callbacks: []Callback{
		LambdaCallback{BatchEnd: func(_ *Run, b int, _ Logs) error {
			if b == 1 {
				cancel()
			}
			return nil
		}},
	}})
	require.Error(t, err)
	assert.True(t, strings.HasSuffix(out.String(), "\n"), "the bar line is ended: %q", out.String())
}

func TestIsTerminal(t *testing.T) {
	assert.False(t, isTerminal(&bytes.Buffer{}))
	f, err := os.CreateTemp(t.TempDir(), "progress")
	require.NoError(t, err)
	defer f.Close()
	assert.False(t, isTerminal(f), "a regular file")
	var nilFile *os.File
	assert.False(t, isTerminal(nilFile))
}

func TestProgressFormats(t *testing.T) {
	for _, tc := range []struct {
		d        time.Duration
		eta, dur string
	}{
		{400 * time.Microsecond, "0s", "400us"},
		{12 * time.Millisecond, "0s", "12ms"},
		{4 * time.Second, "4s", "4s"},
		{125 * time.Second, "2:05", "125s"},
		{3725 * time.Second, "1:02:05", "3725s"},
	} {
		assert.Equal(t, tc.eta, string(appendETA(nil, tc.d)), "ETA %v", tc.d)
		assert.Equal(t, tc.dur, string(appendDuration(nil, tc.d)), "duration %v", tc.d)
	}
	assert.Equal(t, "0.5021", string(appendValue(nil, 0.50211)))
	assert.Equal(t, "1.2340e-04", string(appendValue(nil, 0.0001234)))
	assert.Equal(t, "0.0000", string(appendValue(nil, 0)))
	assert.Equal(t, "NaN", string(appendValue(nil, nan())))
}
