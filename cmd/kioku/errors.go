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

// setUsage makes text, followed by the flags and their defaults, the usage
// message of fs.
func setUsage(fs *flag.FlagSet, text string) {
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), text)
		fs.PrintDefaults()
	}
}

// parseFlagsNoArgs is parseFlags for a command that takes flags only:
// arguments left after the flags are a usage error, printed as
// "<cmd>: unexpected arguments [...]".
func parseFlagsNoArgs(fs *flag.FlagSet, args []string, stderr io.Writer, cmd string) error {
	if err := parseFlags(fs, args, stderr); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "%s: unexpected arguments %q\n", cmd, fs.Args())
		return errUsage
	}
	return nil
}

// runSubcommand runs the subcommand of the command parent ("kioku bench")
// that args[0] names in subs, with the arguments after it. "help", -h,
// -help and --help print help to stdout and give errHelp; a name not in
// subs is a usage error, printed as "<parent>: unknown <what> ..." followed
// by the help.
func runSubcommand(parent, what string, subs map[string]func(args []string, stdout, stderr io.Writer) error, help func(io.Writer), args []string, stdout, stderr io.Writer) error {
	switch args[0] {
	case "help", "-h", "-help", "--help":
		help(stdout)
		return errHelp
	}
	f, ok := subs[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "%s: unknown %s %q\n\n", parent, what, args[0])
		help(stderr)
		return errUsage
	}
	return f(args[1:], stdout, stderr)
}
