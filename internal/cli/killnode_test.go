package cli

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net"
	"net/smtp"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/youju/youju/internal/store"
	"github.com/youju/youju/internal/testutil/pgdsn"
)

// The kill -9 proof of issue 13: two real `youju serve` processes (built
// by the test) on one PostgreSQL schema; node A is killed with SIGKILL
// while 50 connections deliver through its SMTP port; every message that
// got 250 is in the shared store byte for byte (its SHA-256), and node B,
// still running, serves them all.

const (
	killClients  = 50
	killRcpt     = "load@example.test"
	killPassword = "load pw load pw"
)

// buildYouju builds the youju binary once per test run.
var buildYouju = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "youju-bin-")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "youju")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/youju/youju/cmd/youju").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, out)
	}
	return bin, nil
})

// pgSchemaDSN creates a schema of its own for the test and returns a DSN
// whose connections use it (search_path), dropping it at the end.
func pgSchemaDSN(t *testing.T) string {
	t.Helper()
	dsn := pgdsn.Get(t)
	var b [6]byte
	rand.Read(b[:])
	schema := "kill_" + hex.EncodeToString(b[:])
	c, err := pgx.Connect(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Exec(context.Background(), `CREATE SCHEMA `+schema); err != nil {
		t.Fatal(err)
	}
	c.Close(context.Background())
	t.Cleanup(func() {
		if c, err := pgx.Connect(context.Background(), dsn); err == nil {
			c.Exec(context.Background(), `DROP SCHEMA `+schema+` CASCADE`)
			c.Close(context.Background())
		}
	})
	sep := "?"
	if strings.Contains(dsn, "?") {
		sep = "&"
	}
	return dsn + sep + "search_path=" + schema
}

// node is one running `youju serve`.
type node struct {
	cmd   *exec.Cmd
	addrs map[string]string
}

// startNode initialises a data directory for a node on the store of dsn
// and starts `youju serve` on 127.0.0.1 with the port offset; extra are
// more {template line, replacement} settings. A port of the offset taken
// by another process (the ports of the offsets lie in the kernel's
// ephemeral range, where other tests' connections take theirs) makes it
// try another offset in the same class modulo 200, so that the
// callers' nodes 100 apart stay apart.
func startNode(t *testing.T, bin, dsn string, offset int, extra ...[2]string) *node {
	t.Helper()
	for attempt := 1; ; attempt++ {
		n, err := tryStartNode(t, bin, dsn, offset, extra...)
		if err == nil {
			return n
		}
		if !errors.Is(err, errPortTaken) || attempt == 5 {
			t.Fatal(err)
		}
		t.Logf("offset %d: %v; another offset", offset, err)
		offset = 20000 + mrand.IntN(190)*200 + offset%200
	}
}

// errPortTaken is tryStartNode's error when serve could not listen.
var errPortTaken = errors.New("a port is taken")

func tryStartNode(t *testing.T, bin, dsn string, offset int, extra ...[2]string) (*node, error) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "data")
	mustRun(t, "", "init", "--data", dir, "--domain", "example.test")
	cfg := filepath.Join(dir, "youju.toml")
	b, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	// The store, and no DNS (a resolver that refuses at once: tests
	// never touch real DNS) nor checks that need it.
	for _, r := range append([][2]string{
		{`# backend = "sqlite"`, fmt.Sprintf("backend = \"postgres\"\ndsn = %q", dsn)},
		{`# resolver = ""`, `resolver = "127.0.0.1:9"`},
		{`# dmarc_policy = "enforce"`, `dmarc_policy = "off"`},
		{`# fcrdns = true`, `fcrdns = false`},
		{`# helo = true`, `helo = false`},
	}, extra...) {
		re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(r[0]) + `.*$`)
		if !re.MatchString(s) {
			t.Fatalf("the config template has no line %q to set", r[0])
		}
		s = re.ReplaceAllString(s, r[1])
	}
	if err := os.WriteFile(cfg, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "serve", "--data", dir, "--listen", "127.0.0.1", "--port-offset", fmt.Sprint(offset))
	var errs bytes.Buffer
	cmd.Stderr = &errs
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	n := &node{cmd: cmd, addrs: map[string]string{}}
	t.Cleanup(func() {
		n.cmd.Process.Signal(syscall.SIGKILL)
		n.cmd.Wait()
	})
	re := regexp.MustCompile(`^  (\w+)\s+(127\.0\.0\.1:\d+)$`)
	sc := bufio.NewScanner(out)
	lines := make(chan string)
	go func() {
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		io.Copy(io.Discard, out)
	}()
	timeout := time.After(60 * time.Second)
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				cmd.Wait()
				if strings.Contains(errs.String(), "address already in use") {
					return nil, fmt.Errorf("%w: %s", errPortTaken, errs.String())
				}
				return nil, fmt.Errorf("serve ended before it was ready: %s", errs.String())
			}
			if m := re.FindStringSubmatch(l); m != nil {
				n.addrs[m[1]] = m[2]
			}
			if strings.Contains(l, "Stop with Ctrl-C") {
				go func() {
					for range lines {
					}
				}()
				return n, nil
			}
		case <-timeout:
			return nil, fmt.Errorf("serve did not start within a minute: %s", errs.String())
		}
	}
}

// loadMessage is message id, random in size and content.
func loadMessage(id string, rng *mrand.Rand) []byte {
	var body strings.Builder
	for n := 1 + rng.IntN(200); n > 0; n-- {
		fmt.Fprintf(&body, "%s line %d %x\r\n", id, n, rng.Uint64())
	}
	return []byte(fmt.Sprintf("From: sender@remote.example\r\nTo: %s\r\nSubject: %s\r\nX-Id: %s\r\n\r\n%s", killRcpt, id, id, body.String()))
}

func TestKill9NodeUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("builds youju and runs two nodes")
	}
	dsn := pgSchemaDSN(t)
	bin, err := buildYouju()
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	st, acct := pgAccount(t, dsn, killRcpt, killPassword)
	base := 20000 + mrand.IntN(20)*1000
	a, b := startNode(t, bin, dsn, base), startNode(t, bin, dsn, base+500)
	if a.addrs["smtp"] == "" || b.addrs["imap"] == "" {
		t.Fatalf("listeners: A %v, B %v", a.addrs, b.addrs)
	}

	var mu sync.Mutex
	acked := map[string][32]byte{}
	target := killClients + mrand.IntN(2*killClients)
	reached := make(chan struct{})
	var wg sync.WaitGroup
	for c := range killClients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := mrand.New(mrand.NewPCG(uint64(base), uint64(c)))
			sendUntilDead(a.addrs["smtp"], fmt.Sprintf("c%d", c), rng, func(id string, sum [32]byte) {
				mu.Lock()
				defer mu.Unlock()
				acked[id] = sum
				if len(acked) == target {
					close(reached)
				}
			})
		}()
	}
	select {
	case <-reached:
	case <-time.After(2 * time.Minute):
		t.Fatalf("only %d messages acknowledged in two minutes", len(acked))
	}
	time.Sleep(time.Duration(mrand.IntN(30)) * time.Millisecond)
	a.cmd.Process.Signal(syscall.SIGKILL)
	a.cmd.Wait()
	wg.Wait()
	t.Logf("%d messages acknowledged by node A before SIGKILL", len(acked))

	// Every acknowledged message is in the shared store, byte for byte
	// (the stored copy is the sent one after the trace fields node A
	// prepended).
	in, err := st.Mailbox(ctx, acct.ID, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	found := map[string]bool{}
	var uids []store.UID
	if err := st.ListMessages(ctx, acct.ID, in.ID, store.ListOptions{}, func(m *store.Message) error {
		uids = append(uids, m.UID)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	idRe := regexp.MustCompile(`(?m)^X-Id: (\S+)\r$`)
	for _, u := range uids {
		r, err := st.OpenMessage(ctx, acct.ID, in.ID, u)
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(r)
		r.Close()
		if err != nil {
			t.Fatal(err)
		}
		m := idRe.FindSubmatch(data)
		if m == nil {
			t.Fatalf("UID %d has no X-Id", u)
		}
		id := string(m[1])
		sum, ok := acked[id]
		if !ok {
			continue // stored but not acknowledged: allowed (the 250 was lost with A)
		}
		i := bytes.Index(data, []byte("From: sender@remote.example\r\n"))
		if i < 0 || sha256.Sum256(data[i:]) != sum {
			t.Errorf("message %s (UID %d) differs from what was sent", id, u)
		}
		found[id] = true
	}
	for id := range acked {
		if !found[id] {
			t.Errorf("acknowledged message %s is lost", id)
		}
	}
	t.Logf("%d messages stored, %d of them acknowledged, all %d acknowledged ones intact", len(uids), len(found), len(acked))
	// Node B, still running, serves them all.
	if got := imapStatus(t, b.addrs["imaps"], killRcpt, killPassword); !strings.Contains(got, fmt.Sprintf("MESSAGES %d", len(uids))) {
		t.Fatalf("STATUS on node B: %q, want %d messages", got, len(uids))
	}
}

// sendUntilDead delivers messages on one connection until it fails,
// calling ack with each one that got DATA's 250 and its SHA-256.
func sendUntilDead(addr, prefix string, rng *mrand.Rand, ack func(string, [32]byte)) {
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return
	}
	c, err := smtp.NewClient(conn, "mx.example.test")
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
		if c.Mail("sender@remote.example") != nil || c.Rcpt(killRcpt) != nil {
			return
		}
		w, err := c.Data()
		if err != nil {
			return
		}
		msg := loadMessage(id, rng)
		if _, err := w.Write(msg); err != nil {
			return
		}
		if w.Close() != nil {
			return
		}
		ack(id, sha256.Sum256(msg))
	}
}
