package cli

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/youju/youju/internal/config"
	"github.com/youju/youju/internal/spam"
	"github.com/youju/youju/internal/store"
)

// spamChecker builds the MX port's anti-spam checks from [spam]; the
// greylisting state lives in DATA/spam/greylist.json, saved every 30
// seconds and when serve stops (stopSpam). On a store shared by several
// nodes the greylist, the filter's models and the send counters are in
// the store's state instead, so that every node sees the same.
func (d *deps) spamChecker() (*spam.Checker, error) {
	c := d.cfg
	s := c.Spam
	ck := &spam.Checker{
		DNS: d.dns,
		Config: spam.Config{
			DNSBLs: s.DNSBL, DNSBLReject: s.DNSBLAction == config.DNSBLReject,
			FCrDNS: s.FCrDNS, HELO: s.HELO, Pregreet: s.PregreetDelay.Duration,
			JunkScore: s.JunkScore, RejectScore: s.RejectScore,
			ScannerTempfail: s.ScannerFailure == "tempfail",
		},
		Logger: d.log,
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
	shared, isShared := sharedState(d.store)
	if s.Greylist {
		path := filepath.Join(d.dataDir, "spam", "greylist.json")
		if isShared {
			path = "" // the state is in the shared store
		}
		g, err := spam.OpenGreylist(path)
		if err != nil {
			return nil, err
		}
		if isShared {
			g.State = shared
		}
		g.Delay, g.Window, g.Expire = s.GreylistDelay.Duration, s.GreylistWindow.Duration, s.GreylistExpire.Duration
		g.Logger = d.log
		ck.Greylist = g
	}
	ck.Send = &spam.SendLimits{
		MessagesHour: s.SendMessagesHour, MessagesDay: s.SendMessagesDay,
		NewRcptsHour: s.SendNewRcptsHour, NewRcptsDay: s.SendNewRcptsDay,
		Override: (&spam.SendLimitFile{Path: sendLimitPath(d.dataDir)}).Lookup,
		OnError:  func(err error) { d.log.Error("spam: journaling the send counters", "err", err) },
	}
	// The counters survive a restart (a phished password gets no fresh
	// allowance) and tell who each account wrote to; on a cluster they
	// count what the account sent through every node.
	if isShared {
		ck.Send.State = shared
	} else if err := ck.Send.OpenState(filepath.Join(d.dataDir, "spam", "sendstate.log")); err != nil {
		return nil, err
	} else {
		d.spamSend = ck.Send
	}
	if s.Clamd != "" {
		ck.Clamd = &spam.Clamd{Addr: s.Clamd}
	}
	if s.Rspamd != "" {
		ck.Rspamd = &spam.Rspamd{URL: s.Rspamd}
	}
	if s.Filter {
		ck.Filter = &spam.Filter{Dir: filepath.Join(d.dataDir, "spam", "bayes")}
		if isShared {
			ck.Filter = &spam.Filter{State: shared}
		}
	}
	if ck.Greylist != nil || ck.Filter != nil || isShared {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() {
			defer close(done)
			d.saveSpam(ctx, ck)
		}()
		d.spamStop = func() { cancel(); <-done }
	}
	return ck, nil
}

// saveSpam writes the greylist and the filter's models every 30 seconds
// and once more when ctx ends; with a shared store it also deletes its
// expired entries and prunes the shared filter.
func (d *deps) saveSpam(ctx context.Context, ck *spam.Checker) {
	t := time.NewTicker(30 * time.Second)
	defer t.Stop()
	for stop := false; !stop; {
		select {
		case <-ctx.Done():
			stop = true
		case <-t.C:
		}
		if ck.Greylist != nil {
			if err := ck.Greylist.Save(); err != nil {
				d.log.Error("spam: saving the greylist", "err", err)
			}
		}
		if ck.Filter != nil {
			if err := ck.Filter.Flush(); err != nil {
				d.log.Error("spam: saving the filter", "err", err)
			}
		}
		if st, ok := sharedState(d.store); ok {
			// Expired greylist triplets, vacation records and known
			// recipients (every node sweeps; the delete is indexed).
			if _, err := st.ExpireState(context.WithoutCancel(ctx)); err != nil {
				d.log.Warn("state: deleting expired entries", "err", err)
			}
			if ck.Filter != nil && !stop {
				// One node an hour (a lease in the store) prunes the
				// shared models to 200,000 tokens each; it stops with serve.
				if n, err := ck.Filter.PruneShared(ctx); err != nil && ctx.Err() == nil {
					d.log.Warn("spam: pruning the shared filter", "err", err)
				} else if n > 0 {
					d.log.Info("spam: pruned the shared filter", "tokens", n)
				}
			}
		}
	}
}

// imapTrain is the IMAP server's hook into the learning filter.
func imapTrain(ck *spam.Checker, log interface{ Warn(string, ...any) }) func(store.AccountID, []byte, bool) {
	if ck == nil || ck.Filter == nil {
		return nil
	}
	return func(acct store.AccountID, msg []byte, isSpam bool) {
		if err := ck.Filter.Learn(int64(acct), msg, isSpam); err != nil {
			log.Warn("spam filter: training", "err", err)
		}
	}
}

// stopSpam saves what the checks must keep.
func (d *deps) stopSpam() {
	if d.spamStop != nil {
		d.spamStop()
	}
	if d.spamSend != nil {
		d.spamSend.CloseState()
	}
}

func sendLimitPath(dataDir string) string { return filepath.Join(dataDir, "spam", "sendlimits.json") }

// parseSendLimit reads --send-limit: "HOUR/DAY", "-1/-1" (no limit) or
// "default" (0, 0: the server's limits).
func parseSendLimit(v string) (hour, day int, err error) {
	if v == "" || v == "default" {
		return 0, 0, nil
	}
	h, d, ok := strings.Cut(v, "/")
	hour, err1 := strconv.Atoi(h)
	day, err2 := strconv.Atoi(d)
	if !ok || err1 != nil || err2 != nil || hour == 0 || day == 0 || hour < -1 || day < -1 {
		return 0, 0, usagef("--send-limit %q: want HOUR/DAY such as 50/200, -1/-1 or default", v)
	}
	return hour, day, nil
}

// setSendLimit writes an account's own limits (read by a running server
// within seconds): into DATA/spam/sendlimits.json, or on a shared store
// into its state, where every node reads them.
func setSendLimit(ctx context.Context, dataDir string, a store.Account, hour, day int, e *env) error {
	c, err := loadConfig(dataDir)
	if err != nil {
		return err
	}
	if c.Store.Postgres() {
		err = withStateStore(ctx, dataDir, c, func(_ store.Store, st store.StateStore) error {
			return spam.SetSharedSendLimit(ctx, st, int64(a.ID), hour, day)
		})
	} else {
		err = spam.SetSendLimit(sendLimitPath(dataDir), int64(a.ID), hour, day)
	}
	if err != nil {
		return err
	}
	if hour == 0 {
		fmt.Fprintf(e.stdout, "%s: send limit: the server's\n", a.Address)
	} else {
		fmt.Fprintf(e.stdout, "%s: send limit: %d/hour, %d/day (-1: none)\n", a.Address, hour, day)
	}
	return nil
}
