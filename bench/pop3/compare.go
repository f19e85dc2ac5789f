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
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

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

const dovecotConf = `base_dir = {{dir}}/run
state_dir = {{dir}}/state
log_path = {{dir}}/log
protocols = pop3
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
mail_location = maildir:~/Maildir
first_valid_uid = {{uid}}
# Same UIDL recipe as youju (UIDVALIDITY, UID).
pop3_uidl_format = %08Xv%08Xu
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {{dir}}/passwd
}
userdb {
  driver = passwd-file
  args = username_format=%u {{dir}}/passwd
}
service pop3-login {
  inet_listener pop3 {
    address = 127.0.0.1
    port = {{port}}
  }
  inet_listener pop3s {
    port = 0
  }
}
service pop3 {
  process_limit = 1024
}
`

// dovecotUnprivileged drops what only root can do: chroots and the group
// ownership of Dovecot's default sockets.
const dovecotUnprivileged = `service anvil {
  chroot =
}
service pop3-login {
  chroot =
}
service imap-login {
  chroot =
}
service stats {
  unix_listener stats-writer {
    group =
    mode = 0600
  }
}
service dict {
  unix_listener dict {
    group =
  }
}
service dict-async {
  unix_listener dict-async {
    group =
  }
}
`

// startDovecot writes a throwaway Dovecot config with a passwd-file and a
// maildir per account holding msgs, and runs Dovecot in the foreground.
func startDovecot(bin, dir string, clients int, msgs [][]byte) (string, func(), error) {
	uid, gid := os.Getuid(), os.Getgid()
	if uid == 0 {
		// Dovecot will not run mail processes as root: use its own user.
		u, err := user.Lookup("dovecot")
		if err != nil {
			return "", nil, fmt.Errorf("running as root needs the dovecot user: %w", err)
		}
		uid, _ = strconv.Atoi(u.Uid)
		gid, _ = strconv.Atoi(u.Gid)
	}
	if err := writeMaildirs(dir, clients, msgs, uid, gid); err != nil {
		return "", nil, err
	}
	port, err := freePort()
	if err != nil {
		return "", nil, err
	}
	conf := strings.NewReplacer("{{dir}}", dir, "{{uid}}", strconv.Itoa(min(uid, 100)), "{{port}}", strconv.Itoa(port)).Replace(dovecotConf)
	if os.Getuid() != 0 {
		// Unprivileged: Dovecot cannot switch to its own users.
		me, err := user.Current()
		if err != nil {
			return "", nil, err
		}
		conf += fmt.Sprintf("default_internal_user = %s\ndefault_login_user = %s\n", me.Username, me.Username)
		conf += dovecotUnprivileged
	}
	confPath := filepath.Join(dir, "dovecot.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		return "", nil, err
	}
	cmd := exec.Command(bin, "-F", "-c", confPath)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		return "", nil, err
	}
	stop := func() {
		_ = cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
		}
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	if err := waitListening(addr); err != nil {
		stop()
		log, _ := os.ReadFile(filepath.Join(dir, "log"))
		return "", nil, fmt.Errorf("dovecot did not start: %v\n%s", err, log)
	}
	return addr, stop, nil
}

// writeMaildirs writes the passwd-file and one maildir per account, owned
// by uid:gid.
func writeMaildirs(dir string, clients int, msgs [][]byte, uid, gid int) error {
	if err := os.MkdirAll(filepath.Join(dir, "run"), 0o755); err != nil {
		return err
	}
	_ = os.Chmod(filepath.Dir(dir), 0o755)
	_ = os.Chmod(dir, 0o755)
	var passwd strings.Builder
	now := time.Now().Unix()
	for i := 1; i <= clients; i++ {
		home := filepath.Join(dir, "mail", fmt.Sprintf("user%d", i))
		fmt.Fprintf(&passwd, "user%d@example.org:{PLAIN}%s:%d:%d::%s::\n", i, benchPassword, uid, gid, home)
		for _, sub := range []string{"cur", "new", "tmp"} {
			if err := os.MkdirAll(filepath.Join(home, "Maildir", sub), 0o700); err != nil {
				return err
			}
		}
		for k, m := range msgs {
			lf := strings.ReplaceAll(string(m), "\r\n", "\n")
			// S= and W= (size, size with CRLF) in the name, as Dovecot's own
			// delivery writes them, so it need not read files to answer STAT.
			name := fmt.Sprintf("%d.M%dP%d.bench,S=%d,W=%d:2,", now, k, i, len(lf), len(m))
			if err := os.WriteFile(filepath.Join(home, "Maildir", "cur", name), []byte(lf), 0o600); err != nil {
				return err
			}
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "passwd"), []byte(passwd.String()), 0o644); err != nil {
		return err
	}
	if os.Getuid() == 0 {
		return exec.Command("chown", "-R", fmt.Sprintf("%d:%d", uid, gid), filepath.Join(dir, "mail")).Run()
	}
	return nil
}

func waitListening(addr string) error {
	for deadline := time.Now().Add(10 * time.Second); ; {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return err
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
