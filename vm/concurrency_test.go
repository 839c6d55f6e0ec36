package vm_test

import (
	"fmt"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tapegrad/tapegrad/vm"
)

// One program run by machines on many goroutines at once, sharing one
// store (the programs read it and assign nothing): the forward pass and the
// loss with its gradients give what one machine gives serially, bit for
// bit. Run with -race: the program, the store and the kernels' worker pool
// are shared.
func TestMachinesConcurrent(t *testing.T) {
	for _, train := range []bool{false, true} {
		t.Run(fmt.Sprintf("train=%v", train), func(t *testing.T) {
			m, feeds := mlp(t, 64, train)
			want, err := m.Run(feeds)
			require.NoError(t, err)
			const goroutines, runs = 8, 10
			var wg sync.WaitGroup
			errs := make(chan error, goroutines)
			for g := range goroutines {
				wg.Add(1)
				go func() {
					defer wg.Done()
					mg := vm.NewMachine(m.Program(), m.Store())
					for i := range runs {
						out, err := mg.Run(feeds)
						if err != nil {
							errs <- err
							return
						}
						for k := range want {
							if !equalFloat32s(float32s(t, out[k]), float32s(t, want[k])) {
								errs <- fmt.Errorf("goroutine %d, run %d: fetch %d differs from the serial run", g, i, k)
								return
							}
						}
					}
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}
		})
	}
}

func equalFloat32s(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
