// Package killtest kills a real SMTP server (this test binary, re-executed)
// with SIGKILL while 50 connections deliver, restarts it on the same data
// directory, and checks that every message that got 250 is in the store,
// byte for byte (never lose mail: the embedded store's one-fsync ack path,
// internal/store/sqlite/writer.go).
package killtest

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/smtp"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/youju/youju/internal/delivery"
	"github.com/youju/youju/internal/netserver"
	"github.com/youju/youju/internal/smtpd"
	"github.com/youju/youju/internal/store"
	"github.com/youju/youju/internal/store/sqlite"
)

const childEnv = "YOUJU_KILLTEST_CHILD"

const (
	domain  = "example.com"
	rcpt    = "kill@example.com"
	clients = 50
	rounds  = 3
)

func TestMain(m *testing.M) {
	if dir := os.Getenv(childEnv); dir != "" {
		child(dir)
		return
	}
	os.Exit(m.Run())
}

// child serves SMTP (the MX port, no DNS checks) over the store in dir
// until it is killed, after printing its address.
func child(dir string) {
	st, err := sqlite.Open(context.Background(), dir, sqlite.Options{SegmentSize: 4 << 20})
	if err != nil {
		fmt.Println("ERR", err)
		os.Exit(2)
	}
	log := slog.New(slog.DiscardHandler)
	slog.SetDefault(log) // the mail log
	srv := &smtpd.Server{
		Mode: smtpd.Inbound, Deliverer: delivery.New(st, nil, "mx.example.com", log),
		Hostname: "mx.example.com", Logger: log,
		Limits: netserver.Limits{MaxConnections: 4 * clients, MaxPerIP: 4 * clients},
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Println("ERR", err)
		os.Exit(2)
	}
	fmt.Println("ADDR", l.Addr())
	if err := srv.Serve(l); err != nil {
		fmt.Println("ERR", err)
		os.Exit(2)
	}
}

// message is message id: a body of random size and content, whose hash
// is in a header, so that the stored copy can be checked on its own.
func message(id string, rng *rand.Rand) []byte {
	var body strings.Builder
	for n := 1 + rng.IntN(300); n > 0; n-- {
		fmt.Fprintf(&body, "%s line %d %x\r\n", id, n, rng.Uint64())
	}
	sum := sha256.Sum256([]byte(body.String()))
	return []byte(fmt.Sprintf("From: sender@remote.example\r\nTo: %s\r\nSubject: %s\r\nX-Id: %s\r\nX-Hash: %s\r\n\r\n%s",
		rcpt, id, id, hex.EncodeToString(sum[:]), body.String()))
}

func TestKill9UnderLoad(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, dir, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.AddDomain(ctx, domain); err != nil {
		t.Fatal(err)
	}
	acct, err := st.CreateAccount(ctx, store.Account{Address: rcpt, AllowIMAP: true})
	if err != nil {
		t.Fatal(err)
	}
	st.Close()

	acked := map[string]bool{}
	var mu sync.Mutex
	for round := range rounds {
		n := runRound(t, dir, round, func(id string) {
			mu.Lock()
			acked[id] = true
			mu.Unlock()
		})
		t.Logf("round %d: %d acknowledged before SIGKILL", round, n)
	}
	checkStore(t, dir, acct.ID, acked)
}

// runRound starts the server, delivers from 50 connections, kills the
// server at a random moment once mail flows, and returns how many
// messages got 250.
func runRound(t *testing.T, dir string, round int, ack func(string)) int {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+dir)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(out)
	if !sc.Scan() || !strings.HasPrefix(sc.Text(), "ADDR ") {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("child: %q", sc.Text())
	}
	addr := strings.TrimPrefix(sc.Text(), "ADDR ")
	go io.Copy(io.Discard, out)

	// Kill after a random number of acknowledgements (not after a
	// time: the machine may be slow), at a random moment after it.
	target := clients/2 + rand.IntN(clients)
	var mu sync.Mutex
	count := 0
	reached := make(chan struct{})
	var wg sync.WaitGroup
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(round), uint64(c)))
			sendUntilDead(addr, fmt.Sprintf("r%dc%d", round, c), rng, func(id string) {
				ack(id)
				mu.Lock()
				count++
				if count == target {
					close(reached)
				}
				mu.Unlock()
			})
		}()
	}
	select {
	case <-reached:
	case <-time.After(60 * time.Second):
		t.Errorf("only %d messages acknowledged in a minute", count)
	}
	time.Sleep(time.Duration(rand.IntN(30)) * time.Millisecond)
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	wg.Wait()
	return count
}

// sendUntilDead delivers messages on one connection until it fails,
// calling ack for each that got 250 (DATA's reply).
func sendUntilDead(addr, prefix string, rng *rand.Rand, ack func(string)) {
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return
	}
	c, err := smtp.NewClient(conn, "mx.example.com")
	if err != nil {
		conn.Close()
		return
	}
	defer c.Close()
	if err := c.Hello("client.remote.example"); err != nil {
		return
	}
	for i := 0; ; i++ {
		id := fmt.Sprintf("%s-%d", prefix, i)
		if c.Mail("sender@remote.example") != nil || c.Rcpt(rcpt) != nil {
			return
		}
		w, err := c.Data()
		if err != nil {
			return
		}
		if _, err := w.Write(message(id, rng)); err != nil {
			return
		}
		if w.Close() != nil { // the 250 (or not)
			return
		}
		ack(id)
	}
}

// checkStore opens the store left by the last kill and checks that every
// acknowledged message is there once with a body matching its hash, and
// that every message there is intact.
func checkStore(t *testing.T, dir string, acct store.AccountID, acked map[string]bool) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, dir, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	mb, err := st.Mailbox(ctx, acct, store.InboxName)
	if err != nil {
		t.Fatal(err)
	}
	var uids []store.UID
	err = st.ListMessages(ctx, acct, mb.ID, store.ListOptions{}, func(m *store.Message) error {
		uids = append(uids, m.UID)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	found := map[string]int{}
	for _, uid := range uids {
		id, ok := readChecked(t, st, acct, mb.ID, uid)
		if !ok {
			t.Fatalf("uid %d: stored message does not match its hash", uid)
		}
		found[id]++
	}
	for id := range acked {
		if found[id] == 0 {
			t.Fatalf("message %s got 250 but is not in the store (%d stored, %d acknowledged)", id, len(uids), len(acked))
		}
	}
	t.Logf("%d acknowledged, %d stored", len(acked), len(uids))
}

// readChecked reads a stored message and checks its body against X-Hash.
func readChecked(t *testing.T, st *sqlite.Store, acct store.AccountID, mbox store.MailboxID, uid store.UID) (string, bool) {
	r, err := st.OpenMessage(context.Background(), acct, mbox, uid)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	head, body, ok := strings.Cut(string(b), "\r\n\r\n")
	if !ok {
		return "", false
	}
	var id, hash string
	for _, line := range strings.Split(head, "\r\n") {
		if v, ok := strings.CutPrefix(line, "X-Id: "); ok {
			id = v
		}
		if v, ok := strings.CutPrefix(line, "X-Hash: "); ok {
			hash = v
		}
	}
	sum := sha256.Sum256([]byte(body))
	return id, id != "" && hash == hex.EncodeToString(sum[:])
}
