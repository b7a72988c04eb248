package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"
)

// interrupted is the cause of a context cancelled by a signal: the run
// finishes its step, saves, and exits with 128 + the signal's number
// (130 for SIGINT, 143 for SIGTERM), as a shell reports a process killed
// by it.
type interrupted struct{ sig os.Signal }

func (i interrupted) Error() string { return "interrupted by " + signalName(i.sig) }

// code is the exit status for the signal.
func (i interrupted) code() int {
	if s, ok := i.sig.(syscall.Signal); ok {
		return 128 + int(s)
	}
	return 1
}

func signalName(s os.Signal) string {
	switch s {
	case syscall.SIGINT:
		return "SIGINT"
	case syscall.SIGTERM:
		return "SIGTERM"
	}
	return s.String()
}

// withSignals returns a context that the first SIGINT or SIGTERM cancels
// with an interrupted cause, after saying on stderr what happens next; a
// second signal ends the process at once. stop releases the signals.
func withSignals(parent context.Context, stderr io.Writer) (ctx context.Context, stop func()) {
	return withSignalsExit(parent, stderr, os.Exit)
}

// withSignalsExit is withSignals ending the process with exit (os.Exit;
// a test passes its own).
func withSignalsExit(parent context.Context, stderr io.Writer, exit func(int)) (ctx context.Context, stop func()) {
	ctx, cancel := context.WithCancelCause(parent)
	ch := make(chan os.Signal, 2)
	signal.Notify(ch, syscall.SIGINT, syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		select {
		case s := <-ch:
			fmt.Fprintf(stderr, "\n%s: finishing the current step and saving; send it again to quit at once\n", signalName(s))
			cancel(interrupted{s})
		case <-done:
			return
		}
		select {
		case s := <-ch:
			fmt.Fprintf(stderr, "%s again: quitting without saving\n", signalName(s))
			exit(interrupted{s}.code())
		case <-done:
		}
	}()
	return ctx, func() {
		signal.Stop(ch)
		close(done)
		cancel(nil)
	}
}

// exitError is an error that sets the process's exit status.
type exitError struct {
	code int
	msg  string // printed after "kioku <command>: "; empty for none
}

func (e *exitError) Error() string { return e.msg }

// saveEvery is the value of a -save-every flag: a duration ("10m") or a
// number of updates ("500").
type saveEvery struct {
	every time.Duration
	steps int
}

func (s *saveEvery) String() string {
	switch {
	case s == nil:
		return ""
	case s.every > 0:
		return s.every.String()
	case s.steps > 0:
		return strconv.Itoa(s.steps)
	}
	return "0"
}

func (s *saveEvery) Set(v string) error {
	if n, err := strconv.Atoi(v); err == nil {
		if n < 0 {
			return fmt.Errorf("negative step count %d", n)
		}
		*s = saveEvery{steps: n}
		return nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		return fmt.Errorf("want a duration such as 10m or a number of updates such as 500")
	}
	*s = saveEvery{every: d}
	return nil
}
