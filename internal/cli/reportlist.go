package cli

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"text/tabwriter"
	"time"

	"github.com/youju/youju/internal/delivery"
	"github.com/youju/youju/internal/reports"
)

// reportsDir keeps the DMARC and TLS reports received by postmaster@.
func reportsDir(dataDir string) string { return filepath.Join(dataDir, "reports") }

// collectReports returns the Deliverer.Reports hook: reports attached to
// mail for postmaster@ are parsed and kept in DATA/reports, for
// 'youju report list'. The mail itself is delivered as usual.
func collectReports(dataDir string, log *slog.Logger) func(context.Context, *delivery.Envelope, []byte) {
	st := reports.Store{Dir: reportsDir(dataDir)}
	return func(_ context.Context, env *delivery.Envelope, msg []byte) {
		found, err := reports.FromMessage(msg)
		if err != nil {
			log.Debug("reports: not a report", "id", env.ID, "err", err)
			return
		}
		for _, f := range found {
			if err := st.Save(f, time.Now()); err != nil {
				log.Warn("reports: cannot keep a report", "id", env.ID, "err", err)
				continue
			}
			log.Info("reports: received", "id", env.ID, "kind", f.Kind, "org", f.Org, "domain", f.Domain,
				"total", f.Total, "fail", f.Fail)
		}
	}
}

const reportListUsage = "report list [--data DIR]"

// runReportList summarises the kept reports per day and reporter.
func runReportList(_ context.Context, e *env, args []string) error {
	fs, data := flags(e, "report list", reportListUsage)
	if _, err := parseArgs(fs, args, 0, 0, reportListUsage); err != nil {
		return err
	}
	sums, err := reports.Store{Dir: reportsDir(*data)}.List()
	if err != nil {
		return err
	}
	if len(sums) == 0 {
		fmt.Fprintf(e.stdout, "No reports received yet in %s (they come to postmaster@ of your domains, usually daily).\n", reportsDir(*data))
		return nil
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "DAY\tKIND\tREPORTER\tDOMAIN\tREPORTS\tTOTAL\tPASS\tFAIL")
	for _, r := range reports.ByDay(sums) {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%d\t%d\t%d\n", r.Day, r.Kind, r.Org, r.Domain, r.Reports, r.Total, r.Pass, r.Fail)
	}
	return tw.Flush()
}
