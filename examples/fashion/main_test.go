package main

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tapegrad/tapegrad/datasets"
)

// tiny trains every model one epoch on 200 rows.
func tiny() config {
	c := defaultConfig()
	c.Epochs, c.Train = 1, 200
	return c
}

func TestRun(t *testing.T) {
	cfg := tiny()
	var out, errw bytes.Buffer
	require.NoError(t, run(context.Background(), &out, &errw, cfg))
	s := out.String()
	for _, name := range modelNames() {
		assert.Contains(t, s, "\n== "+name+": ")
		assert.Regexp(t, "(?m)^"+name+" +[0-9]+ +0\\.[0-9]{4} +[01]\\.[0-9]{4} ", s, "the summary row of %s", name)
	}
	assert.Equal(t, len(models), strings.Count(s, "Epoch 1/1 - 7/7 - "), "one epoch line per model, 7 batches of 32 for 200 rows")
	assert.Equal(t, len(models), strings.Count(s, "val_accuracy: "))
	assert.Contains(t, s, "200 training, 1000 validation")
	// Fashion-MNIST is installed (Debian) or not: the output says which
	// data it trained on either way.
	if strings.Contains(errw.String(), "falling back") {
		assert.Contains(t, s, "mnist (embedded")
	} else {
		assert.Contains(t, s, "fashion-mnist (")
	}
}

// With Fashion-MNIST missing the example falls back to the embedded MNIST
// subset, and says so.
func TestFallback(t *testing.T) {
	cfg := tiny()
	cfg.DataDir = t.TempDir()
	cfg.Models = []string{"leaky_relu"}
	var out, errw bytes.Buffer
	require.NoError(t, run(context.Background(), &out, &errw, cfg))
	assert.Contains(t, errw.String(), "Fashion-MNIST is not installed")
	assert.Contains(t, errw.String(), "falling back to the MNIST subset")
	assert.Contains(t, out.String(), "mnist (embedded subset")
	assert.Contains(t, out.String(), "== leaky_relu")
	assert.NotContains(t, out.String(), "== prelu")
}

// MNIST asked for in a directory that does not hold it is an error: no
// fallback for what was asked explicitly.
func TestMNISTMissing(t *testing.T) {
	cfg := tiny()
	cfg.Data, cfg.DataDir = "mnist", t.TempDir()
	var out, errw bytes.Buffer
	err := run(context.Background(), &out, &errw, cfg)
	require.Error(t, err)
	assert.True(t, errors.Is(err, datasets.ErrNotFound), "%v", err)
}

func TestCheck(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(*config)
		want string
	}{
		{"epochs", func(c *config) { c.Epochs = 0 }, "-epochs 0"},
		{"data", func(c *config) { c.Data = "cifar" }, `-data "cifar"`},
		{"train", func(c *config) { c.Train = 0 }, "-train 0"},
		{"no models", func(c *config) { c.Models = nil }, "no model"},
		{"unknown model", func(c *config) { c.Models = []string{"elu"} }, `unknown model "elu"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := tiny()
			tc.edit(&c)
			err := run(context.Background(), &bytes.Buffer{}, &bytes.Buffer{}, c)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}

func TestSplitList(t *testing.T) {
	assert.Equal(t, []string{"a", "b"}, splitList(" a,,b ,"))
	assert.Nil(t, splitList(""))
}
