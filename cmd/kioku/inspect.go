package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"unicode"

	"github.com/kioku-ml/kioku/modelio"
	"github.com/kioku-ml/kioku/modelio/safetensors"
)

func init() {
	commands["inspect"] = command{summary: "list the tensors of a safetensors file or checkpoint", run: runInspect}
}

func runInspect(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("kioku inspect", flag.ContinueOnError)
	noStats := fs.Bool("nostats", false, "skip the min/max/mean columns")
	setUsage(fs, "Usage: kioku inspect [flags] FILE...\n\n"+
		"Prints each tensor of a safetensors FILE — name, dtype, shape, min, max and\n"+
		"mean — and the file's metadata (a long value, such as a language model's\n"+
		"carried state, summarised by its shape and size). FILE may also be a\n"+
		"checkpoint directory\n"+
		"written by modelio.Save: its kind, counters, configuration and\n"+
		"vocabulary size are printed, then its model and optimizer tensors.\n\nFlags:\n")
	if err := parseFlags(fs, args, stderr); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		fmt.Fprintf(stderr, "kioku inspect: no FILE given\n")
		fs.Usage()
		return errUsage
	}
	for i, name := range fs.Args() {
		if i > 0 {
			fmt.Fprintln(stdout)
		}
		if err := inspectPath(stdout, name, !*noStats); err != nil {
			return oneLine(err)
		}
	}
	return nil
}

// oneLine folds an error message onto one line for the terminal.
func oneLine(err error) error {
	msg := err.Error()
	if !strings.ContainsAny(msg, "\r\n") {
		return err
	}
	return errors.New(strings.Join(strings.Fields(msg), " "))
}

func inspectPath(w io.Writer, name string, stats bool) error {
	st, err := os.Stat(name)
	if err != nil {
		return err
	}
	if !st.IsDir() {
		f, err := safetensors.ReadFile(name)
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "%s: %s\n", name, summary(f, st.Size()))
		printFile(w, f, stats)
		return nil
	}
	if dir := modelDir(name, "", io.Discard); dir != name {
		// The output directory of kioku train: say what it holds, then
		// show its best checkpoint.
		var held []string
		for _, f := range runFiles {
			if _, err := os.Stat(filepath.Join(name, f)); err == nil {
				held = append(held, f)
			}
		}
		fmt.Fprintf(w, "%s: training run (%s); its best checkpoint:\n\n", name, strings.Join(held, ", "))
		name = dir
	}
	snap, err := modelio.Open(name)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "%s: checkpoint of kind %s at step %d, epoch %d\n", name, printable(snap.Kind()), snap.Step(), snap.Epoch())
	fmt.Fprintf(w, "config: %s\n", strings.Join(strings.Fields(string(snap.Config())), " "))
	if v := snap.Vocab(); v != nil {
		fmt.Fprintf(w, "vocabulary: %d entries\n", len(v))
	}
	if names := snap.RNGNames(); len(names) > 0 {
		fmt.Fprintf(w, "RNG states: %s\n", strings.Join(names, ", "))
	}
	printMetadata(w, snap.Metadata())
	fmt.Fprintf(w, "\n%s: %s\n", modelio.ModelFile, summary(snap.Weights(), -1))
	printFile(w, snap.Weights(), stats)
	if f := snap.OptimizerTensors(); f != nil {
		fmt.Fprintf(w, "\n%s: %s\n", modelio.OptimizerTensorsFile, summary(f, -1))
		printFile(w, f, stats)
	}
	return nil
}

// summary counts a file's tensors, elements and (if size ≥ 0) bytes.
func summary(f *safetensors.File, size int64) string {
	n := 0
	for _, t := range f.Tensors {
		n += t.NumElements()
	}
	s := fmt.Sprintf("%d tensors, %d elements", len(f.Tensors), n)
	if size >= 0 {
		s += fmt.Sprintf(", %d bytes", size)
	}
	return s
}

func printFile(w io.Writer, f *safetensors.File, stats bool) {
	printMetadata(w, f.Metadata)
	if len(f.Tensors) == 0 {
		return
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	if stats {
		fmt.Fprintln(tw, "name\tdtype\tshape\tmin\tmax\tmean")
	} else {
		fmt.Fprintln(tw, "name\tdtype\tshape")
	}
	for _, name := range f.Names() {
		t := f.Tensors[name]
		fmt.Fprintf(tw, "%s\t%s\t%v", printable(name), t.DType(), shape(t.Shape()))
		if stats {
			lo, hi, mean := tensorStats(t)
			fmt.Fprintf(tw, "\t%s\t%s\t%s", lo, hi, mean)
		}
		fmt.Fprintln(tw)
	}
	tw.Flush()
}

func printMetadata(w io.Writer, meta map[string]string) {
	if len(meta) == 0 {
		return
	}
	fmt.Fprintln(w, "metadata:")
	for _, k := range slices.Sorted(maps.Keys(meta)) {
		v := meta[k]
		if len(v) > maxMetaValue {
			v = summariseValue(v)
		} else if strings.ContainsFunc(v, unicode.IsControl) {
			v = strconv.Quote(v)
		}
		fmt.Fprintf(w, "  %s: %s\n", printable(k), v)
	}
}

// printable quotes s if it is empty or holds control characters, or
// spaces, that would garble a line or a table.
func printable(s string) string {
	if s == "" || strings.ContainsFunc(s, func(r rune) bool { return unicode.IsControl(r) || unicode.IsSpace(r) }) {
		return strconv.Quote(s)
	}
	return s
}

func shape(s []int) string {
	parts := make([]string, len(s))
	for i, d := range s {
		parts[i] = strconv.Itoa(d)
	}
	return "[" + strings.Join(parts, " ") + "]"
}

// tensorStats returns the minimum, maximum (ignoring NaNs) and mean of a
// tensor's elements, formatted; "-" for an empty tensor.
func tensorStats(t *safetensors.Tensor) (lo, hi, mean string) {
	var vals []float64
	if t.DType().IsFloat() {
		vals, _ = t.Float64s()
	} else if ints, err := t.Int64s(); err == nil {
		vals = make([]float64, len(ints))
		for i, v := range ints {
			vals[i] = float64(v)
		}
	}
	if len(vals) == 0 {
		return "-", "-", "-"
	}
	mn, mx, sum := math.Inf(1), math.Inf(-1), 0.0
	for _, v := range vals {
		if v < mn {
			mn = v
		}
		if v > mx {
			mx = v
		}
		sum += v
	}
	f := func(v float64) string { return strconv.FormatFloat(v, 'g', 6, 64) }
	if mn > mx { // every element NaN
		return "NaN", "NaN", "NaN"
	}
	return f(mn), f(mx), f(sum / float64(len(vals)))
}

// maxMetaValue is the longest metadata value inspect prints whole; a
// longer one (a language model's carried state, base64) is summarised.
const maxMetaValue = 200

// summariseValue describes a long metadata value in one short line: for
// the carried state of a language-model checkpoint ("L,B,H:<h>[:<c>]",
// base64 float32s) its shape and size, otherwise its size and start.
func summariseValue(v string) string {
	parts := strings.Split(v, ":")
	var l, b, h int
	if n, err := fmt.Sscanf(parts[0], "%d,%d,%d", &l, &b, &h); err == nil && n == 3 && (len(parts) == 2 || len(parts) == 3) {
		what := "h"
		if len(parts) == 3 {
			what = "h and c"
		}
		return fmt.Sprintf("carried state, %s of shape [%d %d %d] (layers, batch, hidden): %d float32 values, %d bytes of base64", what, l, b, h, (len(parts)-1)*l*b*h, len(v))
	}
	start := []rune(v)[:min(40, len([]rune(v)))]
	return fmt.Sprintf("%d bytes: %s…", len(v), strconv.Quote(string(start)))
}
