package train

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tapegrad/tapegrad/graph"
	"github.com/tapegrad/tapegrad/vm"
)

// saveLoopEnv, when set in the environment of the test binary run as
// TestKillDuringSave's child, is the checkpoint path the child saves to
// in a loop until it is killed.
const saveLoopEnv = "TAPEGRAD_TEST_SAVE_LOOP"

// The child's checkpoint: a big variable (8 MB, so that a save takes a
// while and a kill lands inside one) and a few small ones, every value
// equal to the save's generation, which the metadata also holds.
const (
	crashBig  = 2 << 20 // float32 values
	crashMeta = "generation"
)

func crashStore(t testing.TB, gen int) *vm.Store {
	s := vm.NewStore()
	fill := func(name string, n int) {
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(gen)
		}
		d, err := vm.FromSlice(v, n)
		if err == nil {
			err = s.Set(name, d)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	fill("dense/kernel", crashBig)
	fill("dense/bias", 300)
	fill("optimizer/iterations", 1)
	return s
}

// crashCheck loads the checkpoint at path and checks that it is whole:
// every value equals the generation its metadata names. It returns that
// generation.
func crashCheck(t *testing.T, path string) int {
	t.Helper()
	s := vm.NewStore()
	require.NoError(t, LoadStore(path, s), "the checkpoint at the path must always load")
	meta, err := ReadCheckpointMetadata(path)
	require.NoError(t, err)
	gen, err := strconv.Atoi(meta[crashMeta])
	require.NoError(t, err, "metadata %q", meta[crashMeta])
	for _, name := range s.Names() {
		v, err := s.Float64s(name)
		require.NoError(t, err)
		for i, x := range v {
			if x != float64(gen) {
				t.Fatalf("%s[%d] = %v in a checkpoint of generation %d: a mix of two saves", name, i, x, gen)
			}
		}
	}
	return gen
}

// saveLoop is the child's work: save generation after generation to path,
// starting after the generation already there, until killed.
func saveLoop(t *testing.T, path string) {
	gen := 1
	if meta, err := ReadCheckpointMetadata(path); err == nil {
		if g, err := strconv.Atoi(meta[crashMeta]); err == nil {
			gen = g + 1
		}
	}
	s := crashStore(t, gen)
	fmt.Println("ready") // the parent's random delay starts now
	for ; ; gen++ {
		if err := SaveStore(path, s, SaveOptions{Metadata: map[string]string{crashMeta: strconv.Itoa(gen)}}); err != nil {
			fmt.Fprintln(os.Stderr, "save:", err)
			os.Exit(3)
		}
		fmt.Println(gen) // the parent counts the completed saves
		s = crashStore(t, gen+1)
	}
}

// tempFiles lists the temporary files of saves of path.
func tempFiles(t *testing.T, path string) []string {
	t.Helper()
	entries, err := os.ReadDir(filepath.Dir(path))
	require.NoError(t, err)
	var out []string
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), tempPrefix(filepath.Base(path))) {
			out = append(out, filepath.Join(filepath.Dir(path), e.Name()))
		}
	}
	return out
}

// A process killed (SIGKILL) at random moments while it saves a big
// checkpoint in a loop never leaves a broken checkpoint: after every kill
// the file at the path loads and is one whole save (the previous one or a
// newer one, never older than what was seen before), and what a kill in
// the middle of a save leaves is a temporary file beside it, which a later
// save removes once its writer is dead.
func TestKillDuringSave(t *testing.T) {
	if path := os.Getenv(saveLoopEnv); path != "" {
		saveLoop(t, path)
		return
	}
	if runtime.GOOS == "windows" || runtime.GOOS == "plan9" || runtime.GOOS == "js" || runtime.GOOS == "wasip1" {
		t.Skip("needs SIGKILL and flock")
	}
	kills := 20
	if testing.Short() {
		kills = 6
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "ckpt.safetensors")
	require.NoError(t, SaveStore(path, crashStore(t, 0), SaveOptions{Metadata: map[string]string{crashMeta: "0"}}))
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
	last, midSave, saves := 0, 0, 0
	for k := range kills {
		cmd := exec.Command(os.Args[0], "-test.run=^TestKillDuringSave$", "-test.count=1")
		cmd.Env = append(os.Environ(), saveLoopEnv+"="+path)
		out, err := cmd.StdoutPipe()
		require.NoError(t, err)
		var stderr strings.Builder
		cmd.Stderr = &stderr
		require.NoError(t, cmd.Start())
		ready := make(chan bool, 1)
		done := make(chan int)
		go func() { // wait for "ready", then count the completed saves
			sc := bufio.NewScanner(out)
			n := 0
			for sc.Scan() {
				if sc.Text() == "ready" {
					ready <- true
					continue
				}
				n++
			}
			close(ready)
			done <- n
		}()
		select { // the child has started (slowly under the race detector)
		case <-ready:
		case <-time.After(time.Minute):
		}
		if k%2 == 0 {
			// anywhere in the loop: preparing a save, writing, renaming
			time.Sleep(time.Duration(rng.IntN(300)) * time.Millisecond)
		} else {
			// while the file is being written: once a new temporary file
			// appears, within the few milliseconds its writing takes
			before := len(tempFiles(t, path))
			for deadline := time.Now().Add(time.Minute); len(tempFiles(t, path)) <= before && time.Now().Before(deadline); {
				time.Sleep(200 * time.Microsecond)
			}
			time.Sleep(time.Duration(rng.IntN(3000)) * time.Microsecond)
		}
		require.NoError(t, cmd.Process.Kill()) // SIGKILL: no cleanup runs
		saves += <-done
		err = cmd.Wait()
		require.Error(t, err, "the child ends only by the kill (stderr: %s)", stderr.String())
		require.NotContains(t, stderr.String(), "save:", "kill %d", k)

		gen := crashCheck(t, path)
		require.GreaterOrEqual(t, gen, last, "kill %d: the checkpoint went back from generation %d to %d", k, last, gen)
		last = gen
		if len(tempFiles(t, path)) > midSave {
			midSave = len(tempFiles(t, path))
		}
	}
	t.Logf("%d kills, %d completed saves, the last of generation %d; %d temporary files left by kills mid-save", kills, saves, last, midSave)
	assert.Greater(t, last, 0, "some saves completed")
	// half the kills wait for a save to start writing: if none of them
	// left its temporary file, the test no longer kills a write in progress
	assert.Greater(t, midSave, 0, "no kill landed in the middle of writing a checkpoint")

	// what the kills left: temporary files, each one a dead writer's. A
	// save removes them once they are older than orphanAge; here they are
	// made that old.
	orphans := tempFiles(t, path)
	old := time.Now().Add(-2 * orphanAge)
	for _, o := range orphans {
		require.NoError(t, os.Chtimes(o, old, old))
	}
	require.NoError(t, SaveStore(path, crashStore(t, last+1), SaveOptions{Metadata: map[string]string{crashMeta: strconv.Itoa(last + 1)}}))
	assert.Empty(t, tempFiles(t, path), "a save removes the orphans of killed saves")
	assert.Equal(t, last+1, crashCheck(t, path))
}

// removeOrphans removes only temporary files whose writer is gone (no lock)
// and that have not been written for orphanAge; never another file, nor
// the temporary file of a save in progress (locked), nor a young one.
func TestRemoveOrphans(t *testing.T) {
	if runtime.GOOS == "windows" || runtime.GOOS == "plan9" {
		t.Skip("needs flock")
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "m.safetensors")
	old := time.Now().Add(-2 * orphanAge)
	mk := func(name string, age time.Time) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, []byte("x"), 0o644))
		require.NoError(t, os.Chtimes(p, age, age))
		return p
	}
	orphan := mk(".m.safetensors.tmp-123", old)
	young := mk(".m.safetensors.tmp-456", time.Now())
	other := mk(".other.safetensors.tmp-789", old)
	unrelated := mk("m.safetensors.tmp-1", old) // not hidden: not ours
	// a save in progress: its writer holds the lock
	busy, err := os.CreateTemp(dir, tempPrefix("m.safetensors")+"*")
	require.NoError(t, err)
	defer busy.Close()
	lockTemp(busy)
	require.NoError(t, os.Chtimes(busy.Name(), old, old))

	require.NoError(t, SaveStore(path, ckptStore(t, graph.Float32, 0)))
	for _, tc := range []struct {
		path string
		kept bool
	}{{orphan, false}, {young, true}, {other, true}, {unrelated, true}, {busy.Name(), true}} {
		_, err := os.Stat(tc.path)
		assert.Equal(t, tc.kept, err == nil, "%s: kept %v", filepath.Base(tc.path), err == nil)
	}
}

// WriteFileAtomic refuses a nil writer and leaves no file behind when the
// writer fails.
func TestWriteFileAtomic(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "report.txt")
	assert.Error(t, WriteFileAtomic(path, nil))
	require.NoError(t, WriteFileAtomic(path, func(w io.Writer) error { _, err := io.WriteString(w, "one"); return err }))
	err := WriteFileAtomic(path, func(w io.Writer) error {
		io.WriteString(w, "half")
		return context.Canceled
	})
	assert.ErrorIs(t, err, context.Canceled)
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, "one", string(b))
	assert.Empty(t, tempFiles(t, path))
}
