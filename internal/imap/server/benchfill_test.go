package server

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"log/slog"
	"os"
	"sync"

	"github.com/youju/youju/internal/auth"
	"github.com/youju/youju/internal/store"
	"github.com/youju/youju/internal/store/postgres"
	"github.com/youju/youju/internal/store/sqlite"
	"github.com/youju/youju/internal/testutil/pgdsn"
)

// The fixtures of the 100k benchmarks share one way to fill a store: open
// it (or reopen a kept one), make testUser, deliver the missing messages
// concurrently (so that deliveries share fsyncs, as on a busy server), and
// serve it.

// openBenchStore opens the store in dir with testUser's account; with
// YOUJU_IMAP_TEST_STORE=postgres, the PostgreSQL store in the schema named
// after dir (YOUJU_TEST_PG_DSN's database), kept as dir is.
func openBenchStore(dir string) (store.Store, store.Account, error) {
	ctx := context.Background()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	var st interface {
		store.Store
		AddDomain(context.Context, string) error
	}
	var err error
	if os.Getenv("YOUJU_IMAP_TEST_STORE") == "postgres" {
		h := sha256.Sum256([]byte(dir))
		st, err = postgres.Open(ctx, cmp.Or(os.Getenv("YOUJU_TEST_PG_DSN"), pgdsn.Default),
			postgres.Options{Schema: "bench_" + hex.EncodeToString(h[:8]), Logger: log})
	} else {
		st, err = sqlite.Open(ctx, dir, sqlite.Options{Logger: log})
	}
	if err != nil {
		return nil, store.Account{}, err
	}
	acct, err := st.Account(ctx, testUser)
	if err == nil {
		return st, acct, nil
	}
	if err := st.AddDomain(ctx, "example.org"); err != nil {
		return nil, acct, err
	}
	acct, err = st.CreateAccount(ctx, store.Account{Address: testUser, PasswordHash: passwordHash(), AllowIMAP: true})
	return st, acct, err
}

// benchGen makes worker w's message generator: the message of index i and
// its flags.
type benchGen func(w int) func(i int) ([]byte, store.Flags)

// deliverAll delivers the messages of indexes from..n-1 to mailbox mb with
// workers concurrent deliveries.
func deliverAll(st store.Store, acct store.AccountID, mb store.MailboxID, from, n, workers int, gen benchGen) error {
	ctx := context.Background()
	next := make(chan int)
	errs := make(chan error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			msg := gen(w)
			for i := range next {
				data, flags := msg(i)
				_, err := st.Deliver(ctx, store.Delivery{Data: data, Targets: []store.Target{{Account: acct, Mailbox: mb, Flags: flags}}})
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	defer wg.Wait()
	defer close(next)
	for i := from; i < n; i++ {
		select {
		case next <- i:
		case err := <-errs:
			return err
		}
	}
	return nil
}

// fillInbox fills INBOX of the store in dir up to n messages.
func fillInbox(dir string, n, workers int, gen benchGen) (store.Store, store.Account, store.Mailbox, error) {
	st, acct, err := openBenchStore(dir)
	if err != nil {
		return nil, acct, store.Mailbox{}, err
	}
	inbox, err := st.Mailbox(context.Background(), acct.ID, "INBOX")
	if err != nil {
		return nil, acct, inbox, err
	}
	return st, acct, inbox, deliverAll(st, acct.ID, inbox.ID, int(inbox.Messages), n, workers, gen)
}

// serveBench serves st on a loopback port.
func serveBench(st store.Store, acct store.Account) (*testServer, error) {
	srv := &Server{Store: st, Auth: auth.New(st, auth.Options{}), AllowPlaintextLoopback: true,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	l, err := netListen()
	if err != nil {
		return nil, err
	}
	go srv.Serve(l)
	return &testServer{srv: srv, st: st, acct: acct, addr: l.Addr().String()}, nil
}
