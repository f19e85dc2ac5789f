package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/youju/youju/bench/internal/imapc"
	"github.com/youju/youju/internal/auth"
	"github.com/youju/youju/internal/imap/server"
	"github.com/youju/youju/internal/store"
	"github.com/youju/youju/internal/store/sqlite"
)

// startYouju opens (or creates) a store in dir, fills the user's INBOX to
// n messages through Deliver and serves IMAP on a loopback port.
func startYouju(dir, user, pass string, n int) (string, func(), error) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, dir, sqlite.Options{})
	if err != nil {
		return "", nil, err
	}
	fail := func(err error) (string, func(), error) {
		st.Close()
		return "", nil, err
	}
	acct, err := st.Account(ctx, user)
	if err != nil {
		_, domain, _ := strings.Cut(user, "@")
		if err := st.AddDomain(ctx, domain); err != nil {
			fmt.Fprintln(os.Stderr, "add domain:", err) // may exist
		}
		hash, err := auth.HashPassword(pass)
		if err != nil {
			return fail(err)
		}
		if acct, err = st.CreateAccount(ctx, store.Account{Address: user, PasswordHash: hash, AllowIMAP: true}); err != nil {
			return fail(err)
		}
	}
	inbox, err := st.Mailbox(ctx, acct.ID, "INBOX")
	if err != nil {
		return fail(err)
	}
	if inbox.Messages < n {
		fmt.Fprintf(os.Stderr, "youju: filling INBOX %d -> %d\n", inbox.Messages, n)
		if err := fillStore(ctx, st, acct.ID, inbox.ID, inbox.Messages, n); err != nil {
			return fail(err)
		}
	}
	srv := &server.Server{Store: st, Auth: auth.New(st, auth.Options{}), AllowPlaintextLoopback: true,
		Logger: slog.New(slog.DiscardHandler)}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fail(err)
	}
	go srv.Serve(l)
	stop := func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		st.Close()
	}
	return l.Addr().String(), stop, nil
}

// fillStore delivers messages from..n-1 with concurrent deliveries, which
// share fsyncs (group commit).
func fillStore(ctx context.Context, st *sqlite.Store, acct store.AccountID, mbox store.MailboxID, from, n int) error {
	next := make(chan int)
	errs := make(chan error, 1)
	var wg sync.WaitGroup
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				var f store.SysFlags
				if imapc.Seen(i) {
					f = store.FlagSeen
				}
				_, err := st.Deliver(ctx, store.Delivery{Data: imapc.Msg(i), Targets: []store.Target{{Account: acct, Mailbox: mbox, Flags: store.Flags{System: f}}}})
				if err != nil {
					select {
					case errs <- err:
					default:
					}
					return
				}
			}
		}()
	}
	var err error
loop:
	for i := from; i < n; i++ {
		select {
		case next <- i:
		case err = <-errs:
			break loop
		}
	}
	close(next)
	wg.Wait()
	if err == nil {
		select {
		case err = <-errs:
		default:
		}
	}
	return err
}
