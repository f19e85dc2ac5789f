package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/youju/youju/bench/internal/mta"
	"github.com/youju/youju/internal/auth"
	"github.com/youju/youju/internal/netserver"
	"github.com/youju/youju/internal/pop3"
	"github.com/youju/youju/internal/store"
	"github.com/youju/youju/internal/store/sqlite"
)

const benchPassword = "bench-password-1"

// corpus makes n messages of mixed sizes (mostly a few KB, some tens of
// KB, like a real inbox), deterministic so both servers get the same mail.
// Lines end in CRLF; Dovecot gets them with LF as maildir files have.
func corpus(n int) [][]byte {
	rng := rand.New(rand.NewPCG(1, 2))
	msgs := make([][]byte, n)
	for i := range msgs {
		size := 1024 + rng.IntN(8<<10)
		if rng.IntN(10) == 0 {
			size += rng.IntN(96 << 10)
		}
		var b strings.Builder
		fmt.Fprintf(&b, "From: sender%d@example.net\r\nTo: user@example.org\r\nSubject: message %d\r\n", i%97, i)
		fmt.Fprintf(&b, "Date: Mon, 2 Jan 2006 15:04:05 +0000\r\nMessage-ID: <%d.bench@example.net>\r\n", i)
		b.WriteString("MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n")
		for b.Len() < size {
			line := strconv.Itoa(i) + " lorem ipsum dolor sit amet, consectetur adipiscing elit " + strconv.Itoa(rng.IntN(1e9))
			if rng.IntN(50) == 0 {
				line = "." + line // exercise byte-stuffing
			}
			b.WriteString(line + "\r\n")
		}
		msgs[i] = []byte(b.String())
	}
	return msgs
}

func runCompare(clients, messages, rounds int, dovecotBin string, keep bool) error {
	dir, err := os.MkdirTemp("", "youju-pop3-bench-")
	if err != nil {
		return err
	}
	if !keep {
		defer os.RemoveAll(dir)
	}
	msgs := corpus(messages)
	var total int64
	for _, m := range msgs {
		total += int64(len(m))
	}
	fmt.Printf("corpus: %d messages per account, %.1f MB; %d accounts; dir %s\n", messages, float64(total)/1e6, clients, dir)

	var results []result
	yaddr, stop, err := startYouju(filepath.Join(dir, "youju"), clients, msgs)
	if err != nil {
		return fmt.Errorf("youju: %w", err)
	}
	defer stop()
	targets := []target{{name: "youju", addr: yaddr, user: "user%d@example.org", pass: benchPassword}}
	if dovecotBin != "" {
		if _, err := exec.LookPath(dovecotBin); err != nil {
			fmt.Println("dovecot not found: measuring youju only")
		} else {
			daddr, dstop, err := startDovecot(dovecotBin, filepath.Join(dir, "dovecot"), clients, msgs)
			if err != nil {
				return fmt.Errorf("dovecot: %w", err)
			}
			defer dstop()
			targets = append(targets, target{name: "dovecot", addr: daddr, user: "user%d@example.org", pass: benchPassword})
		}
	}
	for _, t := range targets {
		// Warm-up: one login per account (Dovecot builds its index, youju
		// warms its caches).
		if w := load(t, clients, 0); len(w.errs) > 0 {
			printResults([]result{w})
			return fmt.Errorf("%s: warm-up failed", t.name)
		}
	}
	// Rounds alternate the servers so that a change in the machine's load
	// hits both; the best round of each is the fairest figure.
	best := map[string]result{}
	for range max(rounds, 1) {
		for _, t := range targets {
			r := load(t, clients, messages)
			results = append(results, r)
			if b, ok := best[t.name]; len(r.errs) == 0 && (!ok || r.elapsed < b.elapsed) {
				best[t.name] = r
			}
		}
	}
	fmt.Println("all rounds:")
	printResults(results)
	fmt.Println("best round of each:")
	var bests []result
	for _, t := range targets {
		if b, ok := best[t.name]; ok {
			bests = append(bests, b)
		}
	}
	printResults(bests)
	return nil
}

// startYouju fills a fresh SQLite store and serves POP3 on loopback.
func startYouju(dir string, clients int, msgs [][]byte) (string, func(), error) {
	ctx := context.Background()
	t0 := time.Now()
	st, err := sqlite.Open(ctx, dir, sqlite.Options{})
	if err != nil {
		return "", nil, err
	}
	if err := st.AddDomain(ctx, "example.org"); err != nil {
		return "", nil, err
	}
	hash, err := auth.HashPassword(benchPassword)
	if err != nil {
		return "", nil, err
	}
	var targets []store.Target
	for i := 1; i <= clients; i++ {
		a, err := st.CreateAccount(ctx, store.Account{Address: fmt.Sprintf("user%d@example.org", i), PasswordHash: hash, AllowPOP3: true, AllowIMAP: true})
		if err != nil {
			return "", nil, err
		}
		targets = append(targets, store.Target{Account: a.ID})
	}
	// One delivery per message to every account (the blob is shared, as
	// for a mailing list), several at once so that commits are grouped.
	var wg sync.WaitGroup
	errc := make(chan error, len(msgs))
	sem := make(chan struct{}, 32)
	for _, m := range msgs {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			res, err := st.Deliver(ctx, store.Delivery{Data: m, Targets: targets})
			if err == nil {
				for _, r := range res {
					err = r.Err
				}
			}
			if err != nil {
				errc <- err
			}
		}()
	}
	wg.Wait()
	close(errc)
	if err := <-errc; err != nil {
		return "", nil, err
	}
	fmt.Printf("youju: store filled in %s\n", time.Since(t0).Round(time.Millisecond))
	srv := &pop3.Server{
		Store: st, Auth: auth.New(st, auth.Options{}), AllowPlaintextLoopback: true,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Limits: netserver.Limits{MaxPerIP: -1},
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	go srv.Serve(l)
	return l.Addr().String(), func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		st.Close()
	}, nil
}

// startDovecot sets up a throwaway Dovecot (bench/internal/mta) serving
// POP3 on loopback, with one passwd-file account and maildir per client
// holding msgs.
func startDovecot(bin, dir string, clients int, msgs [][]byte) (string, func(), error) {
	port, err := freePort()
	if err != nil {
		return "", nil, err
	}
	d := &mta.Dovecot{Bin: bin, Dir: dir, Password: benchPassword, POP3: port, MaxConns: clients,
		// Same UIDL recipe as youju (UIDVALIDITY, UID).
		Extra: "pop3_uidl_format = %08Xv%08Xu\n"}
	// Dovecot's users must reach dir inside our temporary directory.
	os.Chmod(filepath.Dir(dir), 0o755)
	for i := 1; i <= clients; i++ {
		d.Users = append(d.Users, fmt.Sprintf("user%d@example.org", i))
	}
	if err := d.Prepare(); err != nil {
		return "", nil, err
	}
	if err := writeMaildirs(d, msgs); err != nil {
		return "", nil, err
	}
	if err := d.Start(); err != nil {
		return "", nil, err
	}
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), d.Stop, nil
}

// writeMaildirs writes msgs into every account's maildir.
func writeMaildirs(d *mta.Dovecot, msgs [][]byte) error {
	now := time.Now().Unix()
	for i, u := range d.Users {
		cur := filepath.Join(d.Home(u), "Maildir", "cur")
		for k, m := range msgs {
			lf := strings.ReplaceAll(string(m), "\r\n", "\n")
			// S= and W= (size, size with CRLF) in the name, as Dovecot's own
			// delivery writes them, so it need not read files to answer STAT.
			name := fmt.Sprintf("%d.M%dP%d.bench,S=%d,W=%d:2,", now, k, i+1, len(lf), len(m))
			if err := os.WriteFile(filepath.Join(cur, name), []byte(lf), 0o600); err != nil {
				return err
			}
		}
	}
	return nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
