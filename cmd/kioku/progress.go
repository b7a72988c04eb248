package main

import (
	"fmt"
	"io"
	"math"
	"os"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"github.com/kioku-ml/kioku/train"
)

// reporter shows training progress: a progress bar when stderr is a
// terminal, plain log lines every few seconds otherwise.
type reporter struct {
	w       io.Writer
	bar     *progressbar.ProgressBar
	barFor  int // epoch the bar counts
	lastLog time.Time
}

func newReporter(w io.Writer) *reporter {
	r := &reporter{w: w}
	if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		r.barFor = -1
	} else {
		r.barFor = -2 // no bar
	}
	return r
}

func (r *reporter) Progress(e train.Event) {
	desc := fmt.Sprintf("epoch %d/%d  loss %.3f  ppl %.1f  %.0f tok/s  ETA %s", e.Epoch, e.Epochs, e.Loss, math.Exp(e.Loss), e.TokensPerSec, e.ETA.Round(time.Second))
	if r.barFor == -2 {
		if time.Since(r.lastLog) >= 10*time.Second || e.Chunk == e.Chunks {
			r.lastLog = time.Now()
			fmt.Fprintf(r.w, "%s  step %d  chunk %d/%d  loss %.4f  lr %.3g  %.0f tokens/s  elapsed %s  ETA %s\n",
				time.Now().Format("15:04:05"), e.Step, e.Chunk, e.Chunks, e.Loss, e.LR, e.TokensPerSec, e.Elapsed.Round(time.Second), e.ETA.Round(time.Second))
		}
		return
	}
	if r.bar == nil || r.barFor != e.Epoch {
		r.finishBar()
		r.bar = progressbar.NewOptions(e.Chunks,
			progressbar.OptionSetWriter(r.w),
			progressbar.OptionSetWidth(30),
			progressbar.OptionShowCount(),
			progressbar.OptionSetPredictTime(false),
			progressbar.OptionClearOnFinish(),
		)
		r.barFor = e.Epoch
	}
	r.bar.Describe(desc)
	r.bar.Set(e.Chunk)
}

func (r *reporter) finishBar() {
	if r.bar != nil {
		r.bar.Finish()
		fmt.Fprintln(r.w)
		r.bar = nil
	}
}

func (r *reporter) Validated(v train.Validation) {
	r.finishBar()
	mark := ""
	if v.Best {
		mark = " (best so far, saved)"
	}
	fmt.Fprintf(r.w, "validation at step %d (%d epochs done): loss %.4f, perplexity %.2f%s\n", v.Step, v.Epoch, v.Loss, math.Exp(v.Loss), mark)
}

// Stopped shows nothing: the summary says what stopped the run.
func (r *reporter) Stopped(train.Event) {}

func (r *reporter) Logf(format string, args ...any) {
	r.finishBar()
	fmt.Fprintf(r.w, format+"\n", args...)
}

// Done ends the progress display.
func (r *reporter) Done() { r.finishBar() }
