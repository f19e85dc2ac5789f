package cli

import (
	"context"
	"path/filepath"
	"strings"
	"time"

	"github.com/youju/youju/internal/config"
	"github.com/youju/youju/internal/spam"
)

// spamChecker builds the MX port's anti-spam checks from [spam]; the
// greylisting state lives in DATA/spam/greylist.json, saved every 30
// seconds and when serve stops (stopSpam).
func (d *deps) spamChecker() (*spam.Checker, error) {
	c := d.cfg
	s := c.Spam
	ck := &spam.Checker{
		DNS: d.dns,
		Config: spam.Config{
			DNSBLs: s.DNSBL, DNSBLReject: s.DNSBLAction == config.DNSBLReject,
			FCrDNS: s.FCrDNS, HELO: s.HELO, Pregreet: s.PregreetDelay.Duration,
			JunkScore: s.JunkScore, RejectScore: s.RejectScore,
		},
		Local: func(name string) bool {
			if strings.EqualFold(name, c.Hostname) || strings.EqualFold(name, c.Domain) {
				return true
			}
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			ok, err := d.store.IsLocalDomain(ctx, name)
			return err == nil && ok
		},
	}
	if s.Greylist {
		g, err := spam.OpenGreylist(filepath.Join(d.dataDir, "spam", "greylist.json"))
		if err != nil {
			return nil, err
		}
		g.Delay, g.Window, g.Expire = s.GreylistDelay.Duration, s.GreylistWindow.Duration, s.GreylistExpire.Duration
		g.Logger = d.log
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() {
			defer close(done)
			g.Run(ctx, 30*time.Second)
		}()
		d.spamStop = func() { cancel(); <-done }
		ck.Greylist = g
	}
	return ck, nil
}

// stopSpam saves what the checks must keep.
func (d *deps) stopSpam() {
	if d.spamStop != nil {
		d.spamStop()
	}
}
