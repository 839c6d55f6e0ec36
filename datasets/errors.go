package datasets

import (
	"errors"
	"strings"
)

// The kinds of failure, for errors.Is. Every error this package returns
// about a file wraps one of them.
var (
	// ErrNotFound: a file, or a whole data set, is not where it was looked for.
	ErrNotFound = errors.New("not found")
	// ErrTruncated: a file ends before its header or its data does.
	ErrTruncated = errors.New("truncated")
	// ErrFormat: a file is not a well-formed IDX file (bad magic number,
	// unknown element type, wrong dimensions, trailing bytes, a damaged
	// gzip stream, labels out of range).
	ErrFormat = errors.New("corrupt")
	// ErrChecksum: a well-formed file whose content is not the one whose
	// SHA-256 this package knows.
	ErrChecksum = errors.New("SHA-256 mismatch")
)

// FileError reports a file that could not be read or is not what it should
// be.
type FileError struct {
	// Path names the file: a path on disk, or "embedded:..." for the copy
	// built into this package.
	Path string
	// Err says what is wrong; it wraps ErrNotFound, ErrTruncated,
	// ErrFormat or ErrChecksum, or is the operating system's error.
	Err error
}

// Error returns "datasets: PATH: what is wrong".
func (e *FileError) Error() string { return "datasets: " + e.Path + ": " + e.Err.Error() }

// Unwrap returns Err.
func (e *FileError) Unwrap() error { return e.Err }

// LoadError reports why MNIST or FashionMNIST returned no data: a file in
// the first place that had the data set was missing, truncated or corrupt
// (Err is then a *FileError), or no place had it (Err is ErrNotFound). It
// lists every place the loader looked, in order, with what it found there.
type LoadError struct {
	// Dataset is "mnist" or "fashion-mnist".
	Dataset string
	// Err is a *FileError, ErrNotFound, or an error about the Options.
	Err error
	// Looked lists the places searched, in order, each as
	// "WHAT PATH: FINDING" ("$TAPEGRAD_DATA: unset").
	Looked []string
	// Hint says how to get the data, when none was found.
	Hint string
}

// Error returns the dataset, the problem, and the places the loader looked.
func (e *LoadError) Error() string {
	var b strings.Builder
	b.WriteString("datasets: ")
	b.WriteString(e.Dataset)
	b.WriteString(": ")
	var fe *FileError
	if errors.As(e.Err, &fe) {
		b.WriteString(fe.Path + ": " + fe.Err.Error())
	} else if e.Err == ErrNotFound {
		b.WriteString("no copy found")
	} else {
		b.WriteString(e.Err.Error())
	}
	if len(e.Looked) > 0 {
		b.WriteString("; looked in, in order: ")
		b.WriteString(strings.Join(e.Looked, "; "))
	}
	if e.Hint != "" {
		b.WriteString(". ")
		b.WriteString(e.Hint)
	}
	return b.String()
}

// Unwrap returns Err.
func (e *LoadError) Unwrap() error { return e.Err }
