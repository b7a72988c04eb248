package train

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"time"

	"github.com/kioku-ml/kioku/modelio"
	"github.com/kioku-ml/kioku/optim"
	"github.com/kioku-ml/kioku/train/curves"
)

// Task is one model's side of the training loop that RunTask runs: its
// batches, its optimisation step, its validation and its checkpoints.
// The loop owns everything else, written once for every task: epochs,
// the time limit, validation cadence and the best checkpoint, the
// learning-rate policy, progress events, metrics and curves.
//
// The methods are called from the loop's goroutine, in this order per
// epoch: StartEpoch, then Step for the steps not done yet, then EndEpoch
// when the epoch ran to its end; Validate and Checkpoint in between.
type Task interface {
	// Optimizer is the optimizer Step updates; the loop reads its step
	// count and sets its learning rate.
	Optimizer() *optim.Optimizer
	// StartEpoch prepares epoch e (0-based), shuffling its batches, say,
	// and returns the number of steps in it. It is called once per epoch
	// run, also for an epoch resumed part-way through.
	StartEpoch(e int) (steps int, err error)
	// Step makes one optimisation step on batch k of the current epoch
	// (forward, backward, update, carrying any state to the next batch)
	// and returns the loss in nats per token and the number of tokens.
	// A step whose update was skipped returns an error wrapping
	// optim.ErrNonFiniteGrad.
	Step(k int) (loss float64, tokens int, err error)
	// EndEpoch is called when epoch e ran to its end, before validation:
	// the place to drop carried state.
	EndEpoch(e int)
	// Validate returns the validation loss, or ok false when there is
	// nothing to validate on. It leaves the model ready for Step.
	Validate() (loss float64, ok bool, err error)
	// Checkpoint returns what a checkpoint of the task at p holds: the
	// model, the optimizer, the random generators and whatever Progress
	// the task needs to resume exactly (in the checkpoint's Step, Epoch,
	// Config or Metadata, as the task's format has it).
	Checkpoint(p Progress) *modelio.Checkpoint
}

// Progress is the loop's position, saved with checkpoints and given back
// to RunTask to resume.
type Progress struct {
	// Epoch counts completed epochs; Step counts the steps done in the
	// current one.
	Epoch, Step int
	// Tokens counts the training tokens so far, resumed runs included.
	Tokens int
	// Best is the best validation loss so far: NaN before any validation
	// (or +Inf, to save only what beats it).
	Best float64
	// Elapsed is the time spent by this run so far (not saved by the
	// loop; tasks may record it).
	Elapsed time.Duration
}

// LoopConfig is the task-independent part of a training run.
type LoopConfig struct {
	// Epochs is the number of epochs in all, resumed ones included.
	Epochs int
	// TimeLimit, when positive, stops the run before a step once this
	// much time has passed (the run always makes its first step); the
	// loop then validates and saves as at the end of an epoch.
	TimeLimit time.Duration
	// EvalEvery, when positive, also validates every this many steps of
	// an epoch.
	EvalEvery int
	// ReportEvery, when positive, reports progress every this many
	// updates (counted over the run, resumed ones included); 0 reports at
	// most every 200ms and at the end of each epoch.
	ReportEvery int
	// Schedule, when not nil, sets the learning rate at the start of
	// each epoch.
	Schedule optim.Schedule
	// PlateauFactor, when in (0, 1), multiplies the learning rate after
	// each end-of-epoch validation that did not improve on the best.
	PlateauFactor float64
	// SkipNonFinite skips steps whose update failed with
	// optim.ErrNonFiniteGrad (counted in Summary.Skipped) instead of
	// stopping the run with the error.
	SkipNonFinite bool
	// BestDir, when set, receives a checkpoint each time the validation
	// loss improves; LastDir, when set, one at the end of each epoch and
	// of the run.
	BestDir, LastDir string
	// Metrics, when set, is the metrics.jsonl file progress and
	// validation are appended to; Plot, when set, is the PNG the curves
	// of Metrics are drawn into at the end.
	Metrics, Plot string

	// stopAfter, when positive, stops the run before a step once this
	// many updates are done, as a time limit would (for tests).
	stopAfter int
}

// Validation describes one validation for a Reporter.
type Validation struct {
	// Epoch counts completed epochs; Current is the 1-based epoch that
	// ran last, which may be incomplete (a time limit, EvalEvery).
	Epoch, Current int
	// Step counts updates so far.
	Step int
	// Loss is the validation loss; Best is whether it is the best so far
	// (and was saved in BestDir).
	Loss float64
	Best bool
	// TrainLoss is the mean training loss per token over the steps this
	// run made in the current epoch.
	TrainLoss float64
	// LR is the learning rate the steps used.
	LR float64
	// EndOfEpoch is false for a validation in the middle of an epoch.
	EndOfEpoch bool
	// Elapsed is the time since the run started.
	Elapsed time.Duration
}

// RunTask runs task from position from (the zero Progress, with Best NaN
// or +Inf, for a fresh run) until cfg.Epochs epochs are done or the time
// limit stops it. An epoch in which no step succeeded ends the run
// without validation.
func RunTask(task Task, cfg LoopConfig, from Progress, rep Reporter) (Summary, error) {
	start := time.Now()
	l := &loop{task: task, cfg: cfg, rep: rep, opt: task.Optimizer(), pos: from, start: start}
	sum := Summary{BestValid: from.Best, LastValid: math.NaN(), StoppedBy: "epochs", BestDir: cfg.BestDir, LastDir: cfg.LastDir, MetricsLog: cfg.Metrics}
	if cfg.Metrics != "" {
		if err := os.MkdirAll(filepath.Dir(cfg.Metrics), 0o755); err != nil {
			return sum, err
		}
		var err error
		if l.metrics, err = openMetrics(cfg.Metrics); err != nil {
			return sum, err
		}
		defer l.metrics.Close()
	}
	err := l.run(&sum)
	sum.Epochs, sum.Steps, sum.Tokens, sum.Elapsed = l.pos.Epoch, l.opt.Steps(), l.pos.Tokens, time.Since(start)
	sum.BestValid, sum.Skipped, sum.Improved = l.pos.Best, l.skipped, l.improved
	if err != nil {
		return sum, err
	}
	if l.metrics != nil {
		if err := l.metrics.Close(); err != nil {
			return sum, err
		}
		if cfg.Plot != "" {
			if err := curves.Plot(cfg.Metrics, cfg.Plot); err != nil {
				rep.Logf("no plot: %v", err)
			} else {
				sum.Plot = cfg.Plot
			}
		}
	}
	return sum, nil
}

// loop is the state of one RunTask.
type loop struct {
	task     Task
	cfg      LoopConfig
	rep      Reporter
	opt      *optim.Optimizer
	metrics  *metricsLog
	pos      Progress
	start    time.Time
	skipped  int
	improved bool
	// epochLoss and epochTokens sum the current epoch's steps.
	epochLoss   float64
	epochTokens int
}

func (l *loop) run(sum *Summary) error {
	startTokens := l.pos.Tokens
	first := true
	for l.pos.Epoch < l.cfg.Epochs {
		if l.cfg.Schedule != nil {
			l.opt.SetLR(l.cfg.Schedule.LR(l.pos.Epoch))
		}
		steps, err := l.task.StartEpoch(l.pos.Epoch)
		if err != nil {
			return err
		}
		l.epochLoss, l.epochTokens = 0, 0
		var winLoss float64
		var winTokens, n int
		winStart, lastReport := time.Now(), time.Time{}
		stop := false
		for l.pos.Step < steps {
			elapsed := time.Since(l.start)
			if !first && ((l.cfg.TimeLimit > 0 && elapsed >= l.cfg.TimeLimit) || (l.cfg.stopAfter > 0 && l.opt.Steps() >= l.cfg.stopAfter)) {
				stop = true
				sum.StoppedBy = "time limit"
				l.rep.Stopped(l.event(steps, n, startTokens, winLoss, winTokens, winStart))
				break
			}
			first = false
			loss, tokens, err := l.task.Step(l.pos.Step)
			l.pos.Step++
			if err != nil {
				if l.cfg.SkipNonFinite && errors.Is(err, optim.ErrNonFiniteGrad) {
					l.skipped++
					continue
				}
				return fmt.Errorf("epoch %d chunk %d: %w", l.pos.Epoch+1, l.pos.Step, err)
			}
			n = tokens
			l.pos.Tokens += n
			l.epochLoss += loss * float64(n)
			l.epochTokens += n
			winLoss += loss * float64(n)
			winTokens += n
			report := time.Since(lastReport) > 200*time.Millisecond || l.pos.Step == steps
			if l.cfg.ReportEvery > 0 {
				report = l.opt.Steps()%l.cfg.ReportEvery == 0
			}
			if report {
				lastReport = time.Now()
				ev := l.event(steps, n, startTokens, winLoss, winTokens, winStart)
				l.rep.Progress(ev)
				l.writeMetrics(map[string]any{"kind": "train", "epoch": l.pos.Epoch + 1, "step": ev.Step, "tokens": ev.Tokens, "loss": ev.Loss, "lr": ev.LR, "tokens_per_s": ev.TokensPerSec, "elapsed_s": ev.Elapsed.Seconds()})
				winLoss, winTokens, winStart = 0, 0, time.Now()
			}
			if l.cfg.EvalEvery > 0 && l.pos.Step%l.cfg.EvalEvery == 0 && l.pos.Step < steps {
				if _, err := l.validate(sum, false); err != nil {
					return err
				}
			}
		}
		if l.epochTokens == 0 {
			// Out of time before the epoch's first step, or every step
			// skipped: nothing new to validate or save.
			return nil
		}
		if l.pos.Step == steps {
			l.task.EndEpoch(l.pos.Epoch)
			l.pos.Epoch++
			l.pos.Step = 0
		}
		better, err := l.validate(sum, true)
		if err != nil {
			return err
		}
		if !better && l.cfg.PlateauFactor > 0 && l.cfg.PlateauFactor < 1 {
			l.opt.SetLR(l.opt.LR() * l.cfg.PlateauFactor)
		}
		if l.cfg.LastDir != "" {
			if err := l.save(l.cfg.LastDir); err != nil {
				return err
			}
		}
		if stop {
			break
		}
	}
	return nil
}

// event describes the progress after a step of n tokens in an epoch of
// steps steps.
func (l *loop) event(steps, n, startTokens int, winLoss float64, winTokens int, winStart time.Time) Event {
	elapsed := time.Since(l.start)
	tps := float64(l.pos.Tokens-startTokens) / elapsed.Seconds()
	ev := Event{Epoch: l.pos.Epoch + 1, Epochs: l.cfg.Epochs, Chunk: l.pos.Step, Chunks: steps, Step: l.opt.Steps(), Tokens: l.pos.Tokens,
		Loss: winLoss / float64(winTokens), LR: l.opt.LR(), TokensPerSec: tps, RecentTokensPerSec: float64(winTokens) / time.Since(winStart).Seconds(), Elapsed: elapsed}
	left := float64((l.cfg.Epochs-l.pos.Epoch-1)*steps+(steps-l.pos.Step)) * float64(n) / tps
	ev.ETA = time.Duration(left * float64(time.Second))
	if l.cfg.TimeLimit > 0 {
		ev.ETA = min(ev.ETA, l.cfg.TimeLimit-elapsed)
	}
	return ev
}

// validate runs the task's validation, records it and keeps the best
// checkpoint; it reports whether the loss improved on the best.
func (l *loop) validate(sum *Summary, endOfEpoch bool) (bool, error) {
	loss, ok, err := l.task.Validate()
	if err != nil || !ok {
		return false, err
	}
	sum.LastValid = loss
	better := math.IsNaN(l.pos.Best) || loss < l.pos.Best
	if better {
		l.pos.Best = loss
		if l.cfg.BestDir != "" {
			if err := l.save(l.cfg.BestDir); err != nil {
				return false, err
			}
			l.improved = true
		}
	}
	v := Validation{Epoch: l.pos.Epoch, Current: l.pos.Epoch, Step: l.opt.Steps(), Loss: loss, Best: better,
		TrainLoss: l.epochLoss / float64(l.epochTokens), LR: l.opt.LR(), EndOfEpoch: endOfEpoch, Elapsed: time.Since(l.start)}
	if l.pos.Step > 0 {
		v.Current++
	}
	l.rep.Validated(v)
	l.writeMetrics(map[string]any{"kind": "valid", "epoch": l.pos.Epoch, "step": v.Step, "tokens": l.pos.Tokens, "loss": loss})
	return better, nil
}

// save writes the task's checkpoint at the current position.
func (l *loop) save(dir string) error {
	p := l.pos
	p.Elapsed = time.Since(l.start)
	return modelio.Save(dir, l.task.Checkpoint(p))
}

func (l *loop) writeMetrics(v map[string]any) {
	if l.metrics != nil {
		l.metrics.write(v)
	}
}
