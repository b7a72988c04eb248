package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/kioku-ml/kioku/modelio"
)

// aliases maps the deprecated spellings of a command's flags to the flags
// they stand for: -model for train's cell (now -cell), seq2seq train's
// -time and -o (now -time-limit and -out). An alias sets its flag, is
// listed in -help as deprecated, and warns once on stderr when used.
type aliases map[string]string

// aliasValue is the flag.Value of a deprecated alias: it sets the flag it
// stands for.
type aliasValue struct{ target flag.Value }

func (a aliasValue) String() string {
	if a.target == nil {
		return ""
	}
	return a.target.String()
}
func (a aliasValue) Set(s string) error { return a.target.Set(s) }

// define makes -old a deprecated alias of the flag -name of fs, which
// must be defined already.
func (as aliases) define(fs *flag.FlagSet, old, name string) {
	f := fs.Lookup(name)
	if f == nil {
		panic("kioku: alias -" + old + " of undefined flag -" + name)
	}
	as[old] = name
	typ, _ := flag.UnquoteUsage(f)
	fs.Var(aliasValue{f.Value}, old, fmt.Sprintf("deprecated spelling of -%s (a `%s`)", name, typ))
}

// set returns the flags given on the command line, each alias counted as
// the flag it stands for; it warns on stderr about every alias used.
func (as aliases) set(fs *flag.FlagSet, stderr io.Writer) map[string]bool {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) {
		if name, ok := as[f.Name]; ok {
			fmt.Fprintf(stderr, "%s: -%s is deprecated; use -%s\n", fs.Name(), f.Name, name)
			set[name] = true
			return
		}
		set[f.Name] = true
	})
	return set
}

// modelDir returns the checkpoint directory that -model dir names: dir
// itself when it is a checkpoint, or dir/best when dir is the output
// directory of a training run (kioku train -out dir), which is said on
// stderr.
func modelDir(dir, cmd string, stderr io.Writer) string {
	if _, err := os.Stat(filepath.Join(dir, modelio.ManifestFile)); err == nil {
		return dir
	}
	best := filepath.Join(dir, "best")
	if _, err := os.Stat(filepath.Join(best, modelio.ManifestFile)); err == nil {
		fmt.Fprintf(stderr, "%s: %s is a training run; using its best checkpoint %s\n", cmd, dir, best)
		return best
	}
	return dir
}

// cells are the recurrent cells a language model can have (lm.Config).
var cells = []string{"lstm", "gru"}

// checkCell returns an error for a cell name that lm does not build.
func checkCell(cell string) error {
	for _, c := range cells {
		if cell == c {
			return nil
		}
	}
	if cell == "rnn" {
		return fmt.Errorf("-cell rnn: language models have %s cells (the Elman RNN is in the nn package, not yet in kioku train)", strings.Join(cells, " or "))
	}
	return fmt.Errorf("-cell %q: want %s", cell, strings.Join(cells, " or "))
}
