package cli

import (
	"context"
	"fmt"
	"os"

	"github.com/youju/youju/internal/reports"
)

const reportUsage = "report list | report FILE [FILE...]   (DMARC aggregate or TLS-RPT report: .xml, .json, .gz or .zip as attached)"

// runReport summarises DMARC aggregate (RFC 7489 §7.2) and TLS
// (RFC 8460) report files; 'report list' those received by postmaster@.
func runReport(ctx context.Context, e *env, args []string) error {
	if len(args) > 0 && args[0] == "list" {
		return runReportList(ctx, e, args[1:])
	}
	fs, _ := flags(e, "report", reportUsage)
	files, err := parseArgs(fs, args, 1, 1000, reportUsage)
	if err != nil {
		return err
	}
	bad := 0
	for _, f := range files {
		fi, err := os.Stat(f)
		if err == nil && fi.Size() > reports.MaxReport {
			err = fmt.Errorf("larger than %d bytes", reports.MaxReport)
		}
		var s reports.Summary
		if err == nil {
			var b []byte
			if b, err = os.ReadFile(f); err == nil {
				s, err = reports.Parse(b)
			}
		}
		if err != nil {
			fmt.Fprintf(e.stdout, "%s: %v\n", f, err)
			bad++
			continue
		}
		fmt.Fprintln(e.stdout, s)
	}
	if bad > 0 {
		return fmt.Errorf("%d of %d file(s) could not be read as a report", bad, len(files))
	}
	return nil
}
