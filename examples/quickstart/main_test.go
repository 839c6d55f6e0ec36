package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// stable drops the lines that report times.
func stable(s string) string {
	var keep []string
	for _, l := range strings.Split(s, "\n") {
		if !strings.Contains(l, "µs") && !strings.Contains(l, "ms") && !strings.Contains(l, "wrote") {
			keep = append(keep, l)
		}
	}
	return strings.Join(keep, "\n")
}

func TestQuickstart(t *testing.T) {
	dir := t.TempDir()
	var out bytes.Buffer
	if err := run(&out, 4, 42, dir); err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	for _, want := range []string{
		"program f32: 1 input, 6 variables",
		"%0 input x : f32[B,784]",
		"var dense_2/kernel : f32[100,10]",
		"output shape (4, 10)",
		"row 2:",
		"sum 1.0000", // softmax rows
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("the output lacks %q:\n%s", want, out.String())
		}
	}
	dot, err := os.ReadFile(filepath.Join(dir, "mlp.dot"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(dot, []byte("digraph")) || !bytes.Contains(dot, []byte("dense_1")) {
		t.Errorf("mlp.dot does not look like the model's drawing:\n%.300s", dot)
	}

	// same seed, same numbers; another seed, other numbers
	var again, other bytes.Buffer
	if err := run(&again, 4, 42, dir); err != nil {
		t.Fatal(err)
	}
	if stable(again.String()) != stable(out.String()) {
		t.Errorf("two runs with seed 42 differ:\n%s\n---\n%s", stable(out.String()), stable(again.String()))
	}
	if err := run(&other, 4, 43, dir); err != nil {
		t.Fatal(err)
	}
	if stable(other.String()) == stable(out.String()) {
		t.Error("seeds 42 and 43 print the same numbers")
	}
	if err := run(&other, 0, 42, dir); err == nil {
		t.Error("run with batch 0: want an error")
	}
}
