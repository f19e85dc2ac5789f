package server

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strconv"
	"strings"
	"testing"

	"github.com/youju/youju/internal/auth"
	"github.com/youju/youju/internal/store"
	"github.com/youju/youju/internal/store/postgres"
	"github.com/youju/youju/internal/store/postgres/pgtest"
	"github.com/youju/youju/internal/store/sqlite"
	"github.com/youju/youju/internal/testutil"
	"github.com/youju/youju/internal/testutil/fixture"
)

// The idle-session measurement of issue 12 runs the server in a child
// process (this test binary again, with idleServerEnv set to a store
// directory), so that its memory is the server's alone: the clients live
// in the benchmark's process.
const (
	idleServerEnv = "YOUJU_IMAP_IDLE_SERVER"
	// idleProfileEnv names a file for the child's heap profile (every
	// allocation sampled) taken with the sessions in IDLE.
	idleProfileEnv = "YOUJU_IDLE_HEAP_PROFILE"
	// idleSchemaEnv names the PostgreSQL schema of the child's store with
	// YOUJU_IMAP_TEST_STORE=postgres (issue 13: idle memory per session
	// must be the same on the shared backend).
	idleSchemaEnv = "YOUJU_IMAP_IDLE_SCHEMA"
)

func init() { idleServerMain() }

// BenchmarkIdleTLSSessions measures what a TLS session in IDLE costs the
// server (issue 12: at most 32 KiB PSS each, 2,000 sessions). Its
// YOUJU_IDLE_SESSIONS (default 2,000) sessions over implicit TLS each log
// in, SELECT INBOX (20 messages) and IDLE; the server's process is
// measured before and after, and the difference reported per session:
// pss-B/session is the PSS (/proc/PID/smaps_rollup) after a GC and after
// free memory went back to the OS (debug.FreeOSMemory), what the process
// settles to since Go's scavenger keeps about 10 % over the heap in use;
// pss-gc-B/session the PSS after a GC only, from the same baseline (what
// the ramp left held until the scavenger returns it); heap-B/session the
// heap in use plus goroutine stacks, stack-B/session the stacks alone;
// and goroutines/session.
//
//	YOUJU_IDLE_SESSIONS=2000 go test -run '^$' -bench IdleTLSSessions -benchtime 1x ./internal/imap/server
//
// YOUJU_IDLE_HEAP_PROFILE=FILE writes the server's heap profile (every
// allocation sampled) with the sessions in IDLE.
func BenchmarkIdleTLSSessions(b *testing.B) {
	n := 2000
	if v, err := strconv.Atoi(os.Getenv("YOUJU_IDLE_SESSIONS")); err == nil && v > 0 {
		n = v
	}
	srv := startIdleServer(b)
	// The child made its own certificate.
	tc := &tls.Config{InsecureSkipVerify: true}
	for range b.N {
		warm, err := testutil.OpenIdleSessions(srv.addr, 20, testUser, testPassword, tc)
		if err != nil {
			b.Fatal(err)
		}
		if err := warm.Close(); err != nil {
			b.Fatal(err)
		}
		before := srv.measure(b)
		s, err := testutil.OpenIdleSessions(srv.addr, n, testUser, testPassword, tc)
		if err != nil {
			b.Fatal(err)
		}
		after := srv.measure(b)
		if err := s.Close(); err != nil {
			b.Fatal(err)
		}
		per := func(a, b int64) float64 { return float64(a-b) / float64(n) }
		b.ReportMetric(per(after[0], before[0]), "pss-B/session")
		// Against the settled baseline: what the ramp left held.
		b.ReportMetric(per(after[1], before[0]), "pss-gc-B/session")
		b.ReportMetric(per(after[2], before[2]), "heap-B/session")
		b.ReportMetric(per(after[3], before[3]), "goroutines/session")
		b.ReportMetric(per(after[4], before[4]), "stack-B/session")
	}
}

// idleServer is the child process serving IMAP over implicit TLS.
type idleServer struct {
	addr string
	in   io.WriteCloser
	out  *bufio.Reader
}

func startIdleServer(b *testing.B) *idleServer {
	b.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), idleServerEnv+"="+b.TempDir())
	if os.Getenv("YOUJU_IMAP_TEST_STORE") == "postgres" {
		// The child opens a schema of its own, which the benchmark drops.
		cmd.Env = append(cmd.Env, idleSchemaEnv+"="+pgtest.NewSchema(b), "YOUJU_TEST_PG_DSN="+pgtest.DSN(b))
	}
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		in.Close()
		cmd.Wait()
	})
	s := &idleServer{in: in, out: bufio.NewReader(out)}
	line, _ := s.out.ReadString('\n')
	addr, ok := strings.CutPrefix(strings.TrimSpace(line), "ready ")
	if !ok {
		b.Fatalf("idle server: %q", line)
	}
	s.addr = addr
	return s
}

// measure asks the child for pss, pss-gc, heap+stacks, goroutines and
// stacks.
func (s *idleServer) measure(b *testing.B) [5]int64 {
	b.Helper()
	var m [5]int64
	if _, err := io.WriteString(s.in, "measure\n"); err != nil {
		b.Fatal(err)
	}
	line, err := s.out.ReadString('\n')
	if err != nil {
		b.Fatal(err)
	}
	if _, err := fmt.Sscanf(line, "%d %d %d %d %d", &m[0], &m[1], &m[2], &m[3], &m[4]); err != nil {
		b.Fatalf("idle server: %q: %v", line, err)
	}
	return m
}

// idleServerMain is the child's side: it serves until its stdin closes
// and answers each "measure" line.
func idleServerMain() {
	dir := os.Getenv(idleServerEnv)
	if dir == "" {
		return
	}
	if err := runIdleServer(dir, os.Stdin, os.Stdout); err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

func runIdleServer(dir string, in io.Reader, out io.Writer) error {
	profile := os.Getenv(idleProfileEnv)
	if profile != "" {
		runtime.MemProfileRate = 1
	}
	ctx := context.Background()
	st, err := openIdleStore(ctx, dir)
	if err != nil {
		return err
	}
	defer st.Close()
	if err := st.AddDomain(ctx, "example.org"); err != nil {
		return err
	}
	// A cheap hash: logins are not what is measured.
	acct, err := st.CreateAccount(ctx, store.Account{Address: testUser,
		PasswordHash: fixture.CheapPasswordHash(testPassword), AllowIMAP: true})
	if err != nil {
		return err
	}
	inbox, err := st.Mailbox(ctx, acct.ID, "INBOX")
	if err != nil {
		return err
	}
	for i := range 20 {
		msg := fmt.Sprintf("From: bob@example.org\r\nTo: %s\r\nSubject: message %d\r\n\r\nbody %d\r\n", testUser, i, i)
		if _, err := st.Deliver(ctx, store.Delivery{Data: []byte(msg),
			Targets: []store.Target{{Account: acct.ID, Mailbox: inbox.ID}}}); err != nil {
			return err
		}
	}
	srvTLS, _ := fixture.TLS()
	// A text logger, as youju serve has: a session's logger with its
	// attributes counts.
	srv := &Server{Store: st, Auth: auth.New(st, auth.Options{}), TLSConfig: srvTLS,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	srv.MaxConnections, srv.MaxPerIP = -1, -1
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	go srv.ServeTLS(l)
	defer srv.Shutdown(ctx)
	fmt.Fprintln(out, "ready", l.Addr())
	sc := bufio.NewScanner(in)
	measured := 0
	for sc.Scan() {
		runtime.GC()
		runtime.GC() // the second sweeps what the first freed and shrinks stacks again
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		pssGC, err := testutil.PSS(os.Getpid())
		if err != nil {
			return err
		}
		debug.FreeOSMemory()
		pss, err := testutil.PSS(os.Getpid())
		if err != nil {
			return err
		}
		if measured++; measured == 2 && profile != "" {
			if err := writeHeapProfile(profile); err != nil {
				return err
			}
		}
		fmt.Fprintln(out, pss, pssGC, ms.HeapInuse+ms.StackInuse, runtime.NumGoroutine(), ms.StackInuse)
	}
	return nil
}

// openIdleStore opens the child's store: SQLite in dir, or PostgreSQL in
// the schema the benchmark made.
func openIdleStore(ctx context.Context, dir string) (interface {
	store.Store
	AddDomain(context.Context, string) error
	Close() error
}, error) {
	log := slog.New(slog.DiscardHandler)
	if schema := os.Getenv(idleSchemaEnv); schema != "" {
		return postgres.Open(ctx, os.Getenv("YOUJU_TEST_PG_DSN"), postgres.Options{Schema: schema, Logger: log})
	}
	return sqlite.Open(ctx, dir, sqlite.Options{Logger: log})
}

func writeHeapProfile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
