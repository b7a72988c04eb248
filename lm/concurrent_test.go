package lm

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/kioku-ml/kioku/tensor"
)

// inferenceJob is one inference call on a shared model and its result,
// formatted so that two runs compare exactly (%v of float64 prints the
// shortest representation that reads back to the same bits).
type inferenceJob struct {
	name string
	run  func(m *Model) (string, error)
}

// inferenceJobs returns calls of every inference entry point: Evaluate,
// Score (with per-token log-probabilities), Sample, Generate and Stream,
// on inputs that differ from job to job.
func inferenceJobs(vocab int) []inferenceJob {
	var jobs []inferenceJob
	for k := range 4 {
		seed := uint64(20 + k)
		stream := randomTexts(seed, vocab, 120+10*k)[0]
		texts := randomTexts(seed, vocab, 2+k, 30, 11, 17+k)
		reqs := func() []GenerateRequest {
			rs := generationCases(vocab)[k : k+4]
			for i := range rs {
				rs[i].RNG = tensor.NewRNG(seed + uint64(i))
			}
			return rs
		}
		cfg := SampleConfig{Length: 25, Temperature: 0.9, TopK: 10 * k}
		jobs = append(jobs,
			inferenceJob{fmt.Sprint("Evaluate ", k), func(m *Model) (string, error) {
				loss, err := m.Evaluate(context.Background(), stream, 1+k, 9)
				return fmt.Sprint(loss), err
			}},
			inferenceJob{fmt.Sprint("Score ", k), func(m *Model) (string, error) {
				s, err := m.Score(context.Background(), texts, ScoreOptions{TokenLogProbs: true, BlockRows: 3 * k})
				return fmt.Sprint(s), err
			}},
			inferenceJob{fmt.Sprint("Sample ", k), func(m *Model) (string, error) {
				ids, err := m.Sample(stream[:5+k], cfg, tensor.NewRNG(seed))
				return fmt.Sprint(ids), err
			}},
			inferenceJob{fmt.Sprint("Generate ", k), func(m *Model) (string, error) {
				ids, err := m.Generate(context.Background(), reqs())
				return fmt.Sprint(ids), err
			}},
			inferenceJob{fmt.Sprint("Stream ", k), func(m *Model) (string, error) {
				var ids []int
				for id, err := range m.Stream(context.Background(), stream[:3+k], cfg, tensor.NewRNG(seed)) {
					if err != nil {
						return "", err
					}
					ids = append(ids, id)
				}
				return fmt.Sprint(ids), nil
			}},
		)
	}
	return jobs
}

// TestConcurrentInference runs every inference entry point from 20
// goroutines at once on one shared model — two layers with dropout, left
// in training mode — under -race in CI: each result is bit-identical to
// the same call run alone beforehand. A training step afterwards (Loss,
// Backward, an SGD step) changes every parameter, which still requires
// its gradient: inference froze nothing and switched no mode.
func TestConcurrentInference(t *testing.T) {
	for _, cell := range []string{"lstm", "gru"} {
		t.Run(cell, func(t *testing.T) {
			m := servingModel(t, cell, 40)
			jobs := inferenceJobs(40)
			if len(jobs) < 16 {
				t.Fatalf("%d jobs; the contract is tested with at least 16 goroutines", len(jobs))
			}
			want := make([]string, len(jobs))
			for i, j := range jobs {
				var err error
				if want[i], err = j.run(m); err != nil {
					t.Fatalf("%s: %v", j.name, err)
				}
			}
			got := make([]string, len(jobs))
			errs := make([]error, len(jobs))
			var wg sync.WaitGroup
			for i, j := range jobs {
				wg.Go(func() { got[i], errs[i] = j.run(m) })
			}
			wg.Wait()
			for i, j := range jobs {
				if errs[i] != nil || got[i] != want[i] {
					t.Errorf("%s from %d goroutines: %s (error %v);\nalone: %s", j.name, len(jobs), got[i], errs[i], want[i])
				}
			}

			before := make([]*tensor.Tensor, len(m.Params()))
			for i, p := range m.Params() {
				before[i] = p.Data.Clone()
			}
			in, tg := batchOf(3, 8)
			fillBatch(tensor.NewRNG(8), in, tg, 40)
			if _, err := trainStep(m, clippedSGD(m, 0.5), in, tg, State{}); err != nil {
				t.Fatal(err)
			}
			for i, p := range m.Params() {
				if !p.RequiresGrad() {
					t.Errorf("after concurrent inference, parameter %s no longer requires its gradient", p.Name)
				}
				if tensor.Equal(p.Data, before[i]) {
					t.Errorf("the training step did not change parameter %s", p.Name)
				}
			}
		})
	}
}
