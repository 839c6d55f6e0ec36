package train

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// cancelPrompt bounds the time from a cancellation to Fit's return: one
// step and the check before the next take microseconds, so seconds mean
// the cancellation was missed.
const cancelPrompt = 2 * time.Second

// TestFitCancelFromAnotherGoroutine cancels a long Fit from outside, as a
// program's signal handler or deadline would, while steps run: Fit returns
// promptly with an error matching the context's, after finishing the step
// under way, and the store holds exactly the state of a run stopped after
// that many steps — bit for bit what a second model trained for the same
// number of steps holds — so the model still evaluates.
func TestFitCancelFromAnotherGoroutine(t *testing.T) {
	x, y := blobs(256, 9)
	long := FitOptions{Epochs: 1_000_000, BatchSize: 8, Seed: 3}

	// replica trains a fresh model for exactly n steps of the same run.
	replica := func(t *testing.T, n int) map[string][]float64 {
		m := blobModel(t, 1, nil)
		opts := long
		opts.Callbacks = []Callback{LambdaCallback{BatchEnd: func(r *Run, _ int, _ Logs) error {
			if r.Iterations() == n {
				r.StopTraining()
			}
			return nil
		}}}
		_, err := m.Fit(context.Background(), x, y, opts)
		require.NoError(t, err)
		require.Equal(t, n, iterations(t, m))
		return storeValues(t, m)
	}

	for _, tc := range []struct {
		name    string
		timeout time.Duration // the context's; otherwise another goroutine cancels it
		want    error
	}{
		{"cancel", 0, context.Canceled},
		{"timeout", 500 * time.Millisecond, context.DeadlineExceeded},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := blobModel(t, 1, nil)
			ctx, cancel := context.WithCancel(context.Background())
			if tc.timeout > 0 {
				ctx, cancel = context.WithTimeout(context.Background(), tc.timeout)
			}
			defer cancel()
			stepped := make(chan struct{})
			steps := 0
			opts := long
			opts.Callbacks = []Callback{LambdaCallback{BatchEnd: func(*Run, int, Logs) error {
				steps++
				if steps == 1 {
					close(stepped)
				}
				return nil
			}}}
			cancelled := make(chan time.Time, 1)
			if tc.timeout > 0 {
				dl, _ := ctx.Deadline()
				cancelled <- dl
			} else {
				go func() {
					<-stepped
					time.Sleep(20 * time.Millisecond) // let steps run
					cancelled <- time.Now()
					cancel()
				}()
			}
			start := time.Now()
			h, err := m.Fit(ctx, x, y, opts)
			returned := time.Now()
			require.Error(t, err)
			assert.ErrorIs(t, err, tc.want)
			assert.ErrorContains(t, err, "train: fit: cancelled")
			at := <-cancelled
			assert.Less(t, returned.Sub(at), cancelPrompt, "Fit returns promptly after the cancellation")
			assert.Less(t, returned.Sub(start), time.Minute)

			n := iterations(t, m)
			assert.Equal(t, steps, n, "every step that began finished: the store's step count is the callbacks' count")
			assert.Greater(t, n, 1)
			assert.Equal(t, n/32, h.Len(), "the completed epochs are in the history")
			got := storeValues(t, m)
			assert.True(t, allFinite(got))
			assert.Equal(t, replica(t, n), got, "the state after %d whole steps", n)
			ev, err := m.Evaluate(x, y)
			require.NoError(t, err, "the model still evaluates")
			assert.Greater(t, ev.Metrics["accuracy"], 0.5)
		})
	}
}
