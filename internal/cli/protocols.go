package cli

import (
	"fmt"

	"github.com/youju/youju/internal/delivery"
	"github.com/youju/youju/internal/delivery/queue"
	imapserver "github.com/youju/youju/internal/imap/server"
	"github.com/youju/youju/internal/netserver"
	"github.com/youju/youju/internal/pop3"
	"github.com/youju/youju/internal/smtpd"
)

// bindings lists every configured listener with its server. Listeners of
// one protocol share one server, so that per-account state (POP3's maildrop
// lock, connection limits) spans its ports.
func (d *deps) bindings() ([]binding, error) {
	c := d.cfg
	err := d.openOutbound()
	if err != nil {
		return nil, err
	}
	lim := c.Limits
	conns := netserver.Limits{
		MaxConnections: lim.MaxConnections, MaxPerIP: lim.MaxConnectionsIP, PreAuthPercent: lim.PreAuthPercent,
		PreAuthTimeout: lim.PreAuthTimeout.Duration, CommandTimeout: lim.CommandTimeout.Duration,
	}
	smtpServer := func(mode smtpd.Mode) *smtpd.Server {
		return &smtpd.Server{
			Mode: mode, Deliverer: d.deliverer, Auth: d.auth, TLSConfig: d.tls.Config(),
			Hostname: c.Hostname, MaxMessageBytes: lim.MaxMessageBytes, MaxRecipients: lim.MaxRecipients,
			Limits:      conns,
			ReadTimeout: lim.SMTPTimeout.Duration, WriteTimeout: lim.SMTPTimeout.Duration, DataTimeout: lim.SMTPDataTimeout.Duration,
			AllowPlaintextLoopback: c.Auth.AllowPlaintextLoopback,
			Logger:                 d.log.With("proto", "smtp", "mode", map[smtpd.Mode]string{smtpd.Inbound: "mx", smtpd.Submission: "submission"}[mode]),
		}
	}
	mx, submit := smtpServer(smtpd.Inbound), smtpServer(smtpd.Submission)
	// The MX port offers no AUTH: users send on 465/587, and password
	// guessing on port 25 (open to every server on the internet) is then
	// impossible.
	mx.Auth = nil
	// SPF, DKIM and DMARC on what arrives from the internet.
	mx.DNS, mx.DMARCPolicy = d.dns, c.Outbound.DMARCPolicy
	mx.ARCTrustedSealers = c.Spam.ARCTrustedSealers
	mx.DMARCReport = d.dmarcReportHook() // nil unless [reports] send
	if mx.Spam, err = d.spamChecker(); err != nil {
		return nil, err
	}
	submit.Spam = mx.Spam // trains the filter with sent mail; the checks are the MX port's
	submit.HoldFrom = d.outq.HoldFrom
	d.submit = submit
	pop := &pop3.Server{
		Store: d.store, Auth: d.auth, TLSConfig: d.tls.Config(), Hostname: c.Hostname,
		AllowPlaintextLoopback: c.Auth.AllowPlaintextLoopback, Logger: d.log,
		IdleTimeout: lim.POP3IdleTimeout.Duration, Limits: conns,
	}
	imap := &imapserver.Server{
		Store: d.store, Auth: d.auth, TLSConfig: d.tls.Config(), Hostname: c.Hostname,
		AllowPlaintextLoopback: c.Auth.AllowPlaintextLoopback, MaxLiteral: lim.MaxMessageBytes,
		IdleTimeout: lim.IMAPIdleTimeout.Duration, Limits: conns, Logger: d.log,
		Train: imapTrain(mx.Spam, d.log),
	}
	proxyFrom, err := c.Proxy.TrustedPrefixes()
	if err != nil {
		return nil, err
	}
	var bs []binding
	for _, x := range []struct {
		name, setting string
		srv           server
		implicitTLS   bool
	}{
		{"smtp", c.Listeners.SMTP, mx, false},
		{"submissions", c.Listeners.Submissions, submit, true},
		{"submission", c.Listeners.Submission, submit, false},
		{"imap", c.Listeners.IMAP, imap, false},
		{"imaps", c.Listeners.IMAPS, imap, true},
		{"pop3", c.Listeners.POP3, pop, false},
		{"pop3s", c.Listeners.POP3S, pop, true},
		{"managesieve", c.Listeners.ManageSieve, d.manageSieve(conns), false},
	} {
		addr, err := c.Address(x.setting)
		if err != nil {
			return nil, fmt.Errorf("listeners.%s: %w", x.name, err)
		}
		if addr != "" {
			b := binding{name: x.name, addr: addr, srv: x.srv, implicitTLS: x.implicitTLS}
			if c.Proxy.Enabled(x.name) {
				b.proxyFrom = proxyFrom
			}
			bs = append(bs, b)
		}
	}
	web, err := d.webBindings()
	if err != nil {
		return nil, err
	}
	return append(bs, web...), nil
}

// openOutbound opens the outbound queue (started by serve) and the
// delivery target (d.outq, d.deliverer). Bounces to
// local senders go through local delivery.
func (d *deps) openOutbound() error {
	c := d.cfg
	opt, err := queueOptions(c.Outbound)
	if err != nil {
		return err
	}
	opt.Dir, opt.DataDir, opt.Hostname, opt.Resolver = outboundDir(d.dataDir), d.dataDir, c.Hostname, d.dns
	opt.Logger = d.log.With("proto", "queue")
	// The one delivery target of the server: the SMTP servers take it
	// (bindings) and the queue delivers bounces to local senders through it.
	dl := delivery.New(d.store, nil, c.Hostname, d.log)
	if err := wireRoles(d.dataDir, c, dl.Resolver); err != nil {
		return err
	}
	dl.Sieve = d.sieveDelivery()
	dl.ARC = arcSealer(d.dataDir, c)
	dl.Reports = collectReports(d.dataDir, d.log) // DMARC/TLS reports to postmaster@ (reportlist.go)
	opt.LocalDeliver, opt.IsLocalDomain = queue.LocalHooks(dl)
	if opt.Storage, err = openQueueStorage(c, d.log); err != nil {
		return err
	}
	opt.TLSReport = d.tlsReportHook() // nil unless [reports] send (reportsend.go)
	q, err := queue.Open(opt)
	if err != nil {
		return err
	}
	dl.Queue = q
	d.outq, d.deliverer = q, dl
	return nil
}
