package dataset

import (
	"fmt"
	"math/big"
	"slices"
	"strings"

	"github.com/kioku-ml/kioku/internal/enum"
	"github.com/kioku-ml/kioku/tensor"
)

// Task is a generated sequence-to-sequence problem over digit strings.
type Task uint8

const (
	// Reverse maps a random digit string to its reverse: "1234" → "4321".
	Reverse Task = iota
	// Sort maps a random digit string to its digits in increasing order:
	// "3141" → "1134".
	Sort
	// Add maps "a+b" to the decimal sum: "123+989" → "1112". The lengths
	// are the numbers of digits of a and b.
	Add
)

var taskNames = enum.New[Task]("Task", "dataset: task", "reverse", "sort", "add")

// String returns "reverse", "sort" or "add".
func (t Task) String() string { return taskNames.String(t) }

// ParseTask returns the task of a name: "reverse", "sort" or "add".
func ParseTask(name string) (Task, error) { return taskNames.Parse(name) }

// TaskConfig describes the examples of a generated task.
type TaskConfig struct {
	Task Task
	// MinLen and MaxLen bound the length of the digit strings (for Add,
	// of each operand), drawn uniformly from [MinLen, MaxLen].
	MinLen, MaxLen int
}

// Validate reports whether the configuration can generate examples.
func (c TaskConfig) Validate() error {
	switch {
	case c.Task > Add:
		return fmt.Errorf("dataset: unknown task %d", c.Task)
	case c.MinLen < 1 || c.MaxLen < c.MinLen:
		return fmt.Errorf("dataset: lengths %d…%d; want 1 ≤ min ≤ max", c.MinLen, c.MaxLen)
	case c.Task == Add && c.MaxLen > 18:
		return fmt.Errorf("dataset: operands of up to %d digits; the add task allows 18", c.MaxLen)
	}
	return nil
}

// Example returns the target of a task for a source string; it is the
// task's definition, used to generate and to check.
func (t Task) Example(src string) (string, error) {
	switch t {
	case Reverse:
		r := []rune(src)
		slices.Reverse(r)
		return string(r), nil
	case Sort:
		r := []rune(src)
		slices.Sort(r)
		return string(r), nil
	case Add:
		a, b, ok := strings.Cut(src, "+")
		x, okx := new(big.Int).SetString(a, 10)
		y, oky := new(big.Int).SetString(b, 10)
		if !ok || !okx || !oky || x.Sign() < 0 || y.Sign() < 0 {
			return "", fmt.Errorf("dataset: %q is not a sum of two natural numbers", src)
		}
		return x.Add(x, y).String(), nil
	}
	return "", fmt.Errorf("dataset: unknown task %d", t)
}

// digits returns a random string of n digits; with noLead, the first is
// not 0 unless n is 1.
func digits(n int, noLead bool, rng *tensor.RNG) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte('0' + rng.IntN(10))
	}
	if noLead && n > 1 && b[0] == '0' {
		b[0] = byte('1' + rng.IntN(9))
	}
	return string(b)
}

// Generate returns n random examples of the task as character tokens,
// drawn with rng: with heldOut false only sources outside the held-out
// part h, with heldOut true only sources inside it, so the two sets never
// share a source. It returns an error for an invalid configuration or
// held-out fraction, or if the space of strings is too small to find n
// examples on the requested side.
func Generate(cfg TaskConfig, n int, h Holdout, heldOut bool, rng *tensor.RNG) ([]Pair, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if !(h.Frac > 0 && h.Frac < 1) {
		return nil, fmt.Errorf("dataset: held-out fraction %v outside (0, 1)", h.Frac)
	}
	pairs := make([]Pair, 0, n)
	for tries := 0; len(pairs) < n; tries++ {
		if tries > 1000*(n+10) {
			return nil, fmt.Errorf("dataset: found only %d of %d %v examples of length %d…%d on the requested side of the split", len(pairs), n, cfg.Task, cfg.MinLen, cfg.MaxLen)
		}
		length := func() int { return cfg.MinLen + rng.IntN(cfg.MaxLen-cfg.MinLen+1) }
		var src string
		if cfg.Task == Add {
			src = digits(length(), true, rng) + "+" + digits(length(), true, rng)
		} else {
			src = digits(length(), false, rng)
		}
		s := Chars(src)
		if h.Contains(s) != heldOut {
			continue
		}
		tgt, _ := cfg.Task.Example(src)
		pairs = append(pairs, Pair{Src: s, Tgt: Chars(tgt)})
	}
	return pairs, nil
}

// TaskTokens returns every token the generated tasks use: the digits and
// "+".
func TaskTokens() []string {
	return []string{"0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "+"}
}
