package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
)

var (
	// errUsage reports a usage error whose message has already been
	// printed; the exit status is 2.
	errUsage = errors.New("usage error")
	// errHelp reports that help was requested and printed; exit status 0.
	errHelp = errors.New("help requested")
)

// parseFlags parses args with fs. A -help request prints the FlagSet's
// usage and gives errHelp; any other flag error is printed as one line
// naming the problem and gives errUsage.
func parseFlags(fs *flag.FlagSet, args []string, stderr io.Writer) error {
	fs.SetOutput(io.Discard)
	err := fs.Parse(args)
	fs.SetOutput(stderr)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, flag.ErrHelp):
		fs.Usage()
		return errHelp
	}
	fmt.Fprintf(stderr, "%s: %v (run \"%s -help\")\n", fs.Name(), err, fs.Name())
	return errUsage
}
