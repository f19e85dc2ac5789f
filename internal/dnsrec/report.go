package dnsrec

import (
	"fmt"
	"io"
	"strings"
)

// Report prints check results, one block per record, and returns how many
// need attention (Missing, Wrong or Failed; warnings do not count).
func Report(w io.Writer, rs []Result) int {
	bad := 0
	for _, r := range rs {
		fmt.Fprintf(w, "%-7s %-5s %s", r.Status, r.Record.Type, r.Record.Name)
		if r.Found != "" {
			fmt.Fprintf(w, "  (found: %s)", r.Found)
		}
		fmt.Fprintln(w)
		if r.Status == OK {
			continue
		}
		if r.Status != Warn {
			bad++
		}
		if r.Problem != "" {
			fmt.Fprintf(w, "        problem: %s\n", r.Problem)
		}
		if r.Fix != "" {
			fmt.Fprintf(w, "        fix:     %s\n", strings.ReplaceAll(r.Fix, "\t", " "))
		}
	}
	if bad == 0 {
		fmt.Fprintln(w, "\nAll required records are in place.")
	} else {
		fmt.Fprintf(w, "\n%d record(s) need attention. DNS changes can take up to the old records' TTL to be seen.\n", bad)
	}
	return bad
}
