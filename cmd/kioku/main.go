// Command kioku is the command-line interface to the kioku recurrent
// network toolkit. It is a thin dispatcher: each subcommand lives in its own
// file, parses its own flags with a flag.FlagSet and calls into the library.
//
// Usage:
//
//	kioku <command> [arguments]
//
// Run "kioku help" for the list of commands and "kioku <command> -help" for
// one command's flags.
package main

import (
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
)

// command is one subcommand: run receives the arguments after the command
// name and returns an error to print (flag.ErrHelp for a help request).
type command struct {
	summary string
	run     func(args []string, stdout, stderr io.Writer) error
}

// commands maps subcommand names to their implementations; subcommands
// register themselves here from their own files.
var commands = map[string]command{}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run dispatches args and returns the process exit status: 0 on success, 1
// when the command failed and 2 for a usage error.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return 2
	}
	name := args[0]
	switch name {
	case "help", "-h", "-help", "--help":
		usage(stdout)
		return 0
	case "-version", "--version":
		name = "version"
	}
	cmd, ok := commands[name]
	if !ok {
		fmt.Fprintf(stderr, "kioku: unknown command %q\n\n", name)
		usage(stderr)
		return 2
	}
	if err := cmd.run(args[1:], stdout, stderr); err != nil {
		if err == errUsage {
			return 2
		}
		if err == errHelp {
			return 0
		}
		if e, ok := err.(*exitError); ok {
			if e.msg != "" {
				fmt.Fprintf(stderr, "kioku %s: %s\n", name, e.msg)
			}
			return e.code
		}
		fmt.Fprintf(stderr, "kioku %s: %v\n", name, err)
		return 1
	}
	return 0
}

func usage(w io.Writer) {
	fmt.Fprintf(w, "kioku is a toolkit for recurrent neural networks.\n\nUsage:\n\n\tkioku <command> [arguments]\n\nCommands:\n\n")
	for _, n := range slices.Sorted(maps.Keys(commands)) {
		fmt.Fprintf(w, "\t%-10s %s\n", n, commands[n].summary)
	}
	fmt.Fprintf(w, "\nRun \"kioku <command> -help\" for more about a command.\n")
}
