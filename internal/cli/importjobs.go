package cli

import (
	"context"
	"fmt"
	"mime"
	"time"

	"github.com/youju/youju/internal/importer"
	"github.com/youju/youju/internal/store"
)

// importJobs runs the settings page's self-service imports (邮箱搬家)
// through the server's own store, with a notice mail into the user's
// INBOX when one ends.
func (d *deps) importJobs() *importer.Jobs {
	j := d.importJobsLocal()
	if ls, ok := store.As[store.Leases](d.store); ok {
		j.Leases = ls // one running import per account on every node
	}
	if st, ok := sharedState(d.store); ok {
		j.State = st // its progress shown by every node
	}
	return j
}

func (d *deps) importJobsLocal() *importer.Jobs {
	return &importer.Jobs{DataDir: d.dataDir, Target: importer.Local{Mail: d.store}, Log: d.log.With("proto", "import"),
		Notify: func(ctx context.Context, acct store.AccountID, subject, body string) {
			now := time.Now()
			host := d.cfg.Hostname
			msg := fmt.Sprintf("From: Mail System <postmaster@%s>\r\nSubject: %s\r\nDate: %s\r\n"+
				"Message-ID: <import.%d@%s>\r\nAuto-Submitted: auto-generated\r\nMIME-Version: 1.0\r\n"+
				"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n%s",
				host, mime.BEncoding.Encode("utf-8", subject), now.Format(time.RFC1123Z), now.UnixNano(), host, body)
			if _, err := d.store.Deliver(ctx, store.Delivery{Data: []byte(msg), Targets: []store.Target{{Account: acct}}}); err != nil {
				d.log.Warn("import: notice not delivered", "account", acct, "err", err)
			}
		}}
}
