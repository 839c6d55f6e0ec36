package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// Exit codes.
const (
	exitOK    = 0
	exitError = 1 // the command failed
	exitUsage = 2 // the command line is wrong
)

// env is what a subcommand runs with.
type env struct {
	ctx            context.Context
	stdout, stderr io.Writer
}

// command is one subcommand.
type command struct {
	name  string
	args  string // the synopsis after the name
	short string // one line, for the list of commands
	long  string // the description, for the command's usage
	// flags declares the command's flags on fs and returns the function
	// that runs it with the positional arguments.
	flags func(fs *flag.FlagSet) func(e *env, args []string) error
}

// commands are the subcommands, in the order help lists them.
var commands []command

func init() {
	commands = []command{studyCommand, dotCommand, explainCommand, benchCommand}
}

// usageError is a wrong command line: it is printed with the command's
// usage, and the exit code is 2.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return usageError{fmt.Sprintf(format, args...)} }

// run is the command: it returns the exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, mainUsage())
		return exitUsage
	}
	name := args[0]
	switch name {
	case "help", "-h", "-help", "--help":
		if name == "help" && len(args) > 1 {
			c, ok := findCommand(args[1])
			if !ok {
				fmt.Fprintf(stderr, "tapegrad help: unknown command %q\n\n%s", args[1], mainUsage())
				return exitUsage
			}
			fs := flag.NewFlagSet(c.name, flag.ContinueOnError)
			c.flags(fs)
			fmt.Fprint(stdout, commandUsage(c, fs))
			return exitOK
		}
		fmt.Fprint(stdout, mainUsage())
		return exitOK
	}
	c, ok := findCommand(name)
	if !ok {
		fmt.Fprintf(stderr, "tapegrad: unknown command %q\n\n%s", name, mainUsage())
		return exitUsage
	}
	fs := flag.NewFlagSet(c.name, flag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors and usage are printed below
	runCmd := c.flags(fs)
	pos, err := parseInterleaved(fs, args[1:])
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(stdout, commandUsage(c, fs))
		return exitOK
	}
	if err == nil {
		err = runCmd(&env{ctx: ctx, stdout: stdout, stderr: stderr}, pos)
	}
	var ue usageError
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &ue) || isFlagError(err):
		fmt.Fprintf(stderr, "tapegrad %s: %v\n\n%s", c.name, err, commandUsage(c, fs))
		return exitUsage
	default:
		fmt.Fprintf(stderr, "tapegrad %s: %v\n", c.name, err)
		return exitError
	}
}

// flagError marks an error from the flag package.
type flagError struct{ err error }

func (e flagError) Error() string { return e.err.Error() }
func (e flagError) Unwrap() error { return e.err }

func isFlagError(err error) bool {
	var fe flagError
	return errors.As(err, &fe)
}

// parseInterleaved parses flags that may come before, between or after the
// positional arguments (`tapegrad study variance --quick`), and returns the
// positional ones. "--" ends the flags.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, flagError{err}
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		// fs.Parse stops at the first non-flag, or after "--".
		if n := len(args) - len(rest); n > 0 && args[n-1] == "--" {
			return append(pos, rest...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

func findCommand(name string) (command, bool) {
	for _, c := range commands {
		if c.name == name {
			return c, true
		}
	}
	return command{}, false
}

func mainUsage() string {
	var b strings.Builder
	b.WriteString("tapegrad runs the experiments of tapegrad's study of training deep networks\n" +
		"(initialization, nonsaturating activations, self-normalization, Batch\n" +
		"Normalization) and looks at its reference models.\n\n" +
		"Usage:\n\n\ttapegrad <command> [arguments]\n\nThe commands are:\n\n")
	for _, c := range commands {
		fmt.Fprintf(&b, "\t%-8s %s\n", c.name, c.short)
	}
	b.WriteString("\nUse \"tapegrad help <command>\" or \"tapegrad <command> -h\" for more about a command.\n")
	return b.String()
}

func commandUsage(c command, fs *flag.FlagSet) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Usage: tapegrad %s %s\n\n%s\n", c.name, c.args, c.long)
	n := 0
	fs.VisitAll(func(*flag.Flag) { n++ })
	if n > 0 {
		b.WriteString("\nFlags (-flag and --flag are the same):\n")
		fs.SetOutput(&b)
		fs.PrintDefaults()
		fs.SetOutput(io.Discard)
	}
	return b.String()
}

// isTerminal reports whether w is a terminal: an *os.File that is a
// character device (as package train decides where to draw its bar).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok || f == nil {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
