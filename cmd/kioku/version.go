package main

import (
	"flag"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
)

func init() {
	commands["version"] = command{summary: "print kioku's version, VCS revision and Go version", run: runVersion}
}

func runVersion(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("kioku version", flag.ContinueOnError)
	setUsage(fs, "Usage: kioku version\n\nPrints the module version of kioku (\"(devel)\" when built from a\nclone), the VCS revision and time it was built from, and the Go version.\n")
	if err := parseFlagsNoArgs(fs, args, stderr, "kioku version"); err != nil {
		return err
	}
	fmt.Fprintln(stdout, versionLine(debug.ReadBuildInfo()))
	return nil
}

// versionLine formats build information as
// "kioku v1.2.3 (revision 0123456789ab, 2026-12-08T03:00:00Z, modified) go1.26 linux/amd64".
func versionLine(bi *debug.BuildInfo, ok bool) string {
	version, details := "(unknown)", ""
	if ok {
		version = bi.Main.Version
		if version == "" {
			version = "(devel)"
		}
		var rev, at, modified string
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.time":
				at = s.Value
			case "vcs.modified":
				if s.Value == "true" {
					modified = ", modified"
				}
			}
		}
		if rev != "" {
			details = fmt.Sprintf(" (revision %.12s", rev)
			if at != "" {
				details += ", " + at
			}
			details += modified + ")"
		}
	}
	return fmt.Sprintf("kioku %s%s %s %s/%s", version, details, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}
