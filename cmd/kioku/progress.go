package main

import (
	"fmt"
	"io"
	"math"
	"os"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"github.com/kioku-ml/kioku/train"
)

// reporter shows training progress: on a terminal one progress bar
// (schollz/progressbar) redrawn in place — its percentage and the ETA
// beside it measure the same thing (the time limit when it ends the run
// first, else the run's steps) and, during a validation, the
// validation's own progress against its expected duration; elsewhere
// plain log lines every few seconds. Its methods may be called while a
// validation's line is being redrawn by its own goroutine: a mutex orders
// the writes.
type reporter struct {
	mu      sync.Mutex
	w       io.Writer
	tty     bool
	width   int                      // terminal columns (tty)
	bar     *progressbar.ProgressBar // the line on screen (tty), or nil
	lastLog time.Time
	// The validation running, if any: when it started, what it is, and
	// the goroutine redrawing its line (tty).
	valAt   time.Time
	val     train.ValidationStart
	valStop chan struct{}
	valDone chan struct{}
	// every is how often a validation's line is redrawn.
	every time.Duration
}

func newReporter(w io.Writer) *reporter {
	r := &reporter{w: w, width: 100, every: 250 * time.Millisecond}
	if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		r.tty = true
		if cols, _, err := term.GetSize(int(f.Fd())); err == nil && cols > 20 {
			r.width = cols
		}
	}
	return r
}

// barSteps is the resolution of the bar: its value is the fraction done
// in thousandths.
const barSteps = 1000

// show sets the bar on screen (made if there is none) to fraction done,
// with desc after it, cut to the terminal's width.
func (r *reporter) show(done float64, desc string) {
	if r.bar == nil {
		r.bar = progressbar.NewOptions(barSteps,
			progressbar.OptionSetWriter(r.w),
			progressbar.OptionSetWidth(20),
			progressbar.OptionShowDescriptionAtLineEnd(),
			progressbar.OptionSetPredictTime(false),
			progressbar.OptionSetElapsedTime(false),
			progressbar.OptionThrottle(0),
			progressbar.OptionUseANSICodes(true),
		)
	}
	if rs := []rune(desc); len(rs) > r.width-35 { // the bar and its percentage take about 30 columns
		desc = string(rs[:max(r.width-35, 0)])
	}
	r.bar.Describe(desc)
	_ = r.bar.Set(int(min(max(done, 0), 1) * barSteps)) // a terminal write error is not the run's
}

// short formats a duration to the second: 59s, 3m05s, 1h02m03s.
func short(d time.Duration) string {
	d = max(d, 0).Round(time.Second)
	h, m, s := int(d.Hours()), int(d.Minutes())%60, int(d.Seconds())%60
	switch {
	case h > 0:
		return fmt.Sprintf("%dh%02dm%02ds", h, m, s)
	case m > 0:
		return fmt.Sprintf("%dm%02ds", m, s)
	}
	return fmt.Sprintf("%ds", s)
}

// of names what a percentage of e is of.
func of(e train.Event) string {
	if e.Bound == "time limit" {
		return "of the time limit"
	}
	return fmt.Sprintf("of %d epochs", e.Epochs)
}

func (r *reporter) Progress(e train.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.tty {
		if time.Since(r.lastLog) >= 10*time.Second || e.Chunk == e.Chunks {
			r.lastLog = time.Now()
			fmt.Fprintf(r.w, "%s  step %d  epoch %d chunk %d/%d  loss %.4f  lr %.3g  %.0f tokens/s  elapsed %s  ETA %s (%.0f%% %s)\n",
				time.Now().Format("15:04:05"), e.Step, e.Epoch, e.Chunk, e.Chunks, e.Loss, e.LR, e.TokensPerSec, short(e.Elapsed), short(e.ETA), 100*e.Done, of(e))
		}
		return
	}
	r.show(e.Done, fmt.Sprintf("%s  ETA %s  epoch %d chunk %d/%d  loss %.3f  ppl %.1f  %.0f tok/s",
		of(e), short(e.ETA), e.Epoch, e.Chunk, e.Chunks, e.Loss, math.Exp(e.Loss), e.TokensPerSec))
}

// clear removes the progress line, if any, so that a message can follow.
func (r *reporter) clear() {
	if r.bar != nil {
		_ = r.bar.Clear()
		r.bar = nil
	}
}

// ValidationStarted shows the validation about to run: on a terminal a
// line redrawn until Validated, its bar filled by the time spent against
// the expected duration (the last validation's; never past 99%).
func (r *reporter) ValidationStarted(s train.ValidationStart) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.valAt, r.val = time.Now(), s
	what := "validating"
	if s.Tokens > 0 {
		what = fmt.Sprintf("validating on %d tokens", s.Tokens)
	}
	if !r.tty {
		if s.Estimate > 0 {
			what += fmt.Sprintf(" (about %s)", short(s.Estimate))
		}
		fmt.Fprintf(r.w, "%s  %s\n", time.Now().Format("15:04:05"), what)
		return
	}
	r.clear() // the validation gets a bar of its own
	r.drawValidation(what)
	r.valStop, r.valDone = make(chan struct{}), make(chan struct{})
	go func(stop, done chan struct{}) {
		defer close(done)
		t := time.NewTicker(r.every)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				r.mu.Lock()
				r.drawValidation(what)
				r.mu.Unlock()
			}
		}
	}(r.valStop, r.valDone)
}

// drawValidation draws the running validation's line (r.mu held).
func (r *reporter) drawValidation(what string) {
	spent := time.Since(r.valAt)
	if r.val.Estimate <= 0 {
		r.show(0, fmt.Sprintf("%s  %s", what, short(spent)))
		return
	}
	done := min(spent.Seconds()/r.val.Estimate.Seconds(), 0.99)
	r.show(done, fmt.Sprintf("%s  %s of about %s", what, short(spent), short(r.val.Estimate)))
}

// stopValidation ends the redrawing of a validation's line.
func (r *reporter) stopValidation() {
	if r.valStop != nil {
		close(r.valStop)
		r.mu.Unlock()
		<-r.valDone
		r.mu.Lock()
		r.valStop, r.valDone = nil, nil
	}
}

func (r *reporter) Validated(v train.Validation) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.stopValidation()
	r.clear()
	mark := ""
	if v.Best {
		mark = " (best so far, saved)"
	}
	took := ""
	if !r.valAt.IsZero() {
		took = fmt.Sprintf(" in %s", short(time.Since(r.valAt)))
		r.valAt = time.Time{}
	}
	fmt.Fprintf(r.w, "validation at step %d (%d epochs done): loss %.4f, perplexity %.2f%s%s\n", v.Step, v.Epoch, v.Loss, math.Exp(v.Loss), took, mark)
}

// Stopped shows nothing: the summary says what stopped the run.
func (r *reporter) Stopped(train.Event) {}

func (r *reporter) Logf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.clear()
	fmt.Fprintf(r.w, format+"\n", args...)
}

// Done ends the progress display.
func (r *reporter) Done() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.stopValidation()
	r.clear()
}
