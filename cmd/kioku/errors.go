package main

import (
	"errors"
	"flag"
	"io"
)

var (
	// errUsage reports a usage error whose message has already been
	// printed; the exit status is 2.
	errUsage = errors.New("usage error")
	// errHelp reports that help was requested and printed; exit status 0.
	errHelp = errors.New("help requested")
)

// parseFlags parses args with fs, mapping -help to errHelp and other flag
// errors (already printed by the FlagSet) to errUsage.
func parseFlags(fs *flag.FlagSet, args []string, stderr io.Writer) error {
	fs.SetOutput(stderr)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return errHelp
		}
		return errUsage
	}
	return nil
}
