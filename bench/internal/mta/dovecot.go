// Package mta sets up the Debian packages youju is compared with, as
// throwaway instances in a directory of their own: Dovecot 2.3 (IMAP,
// IMAPS, POP3, LMTP; passwd-file users with a Maildir each) and Postfix
// (relaying one domain over LMTP). It also reads the memory of their
// processes (PSS). Used by bench/imap, bench/pop3 and bench/compare.
// Postfix needs root (its master runs as root); Dovecot runs as root
// (switching to its users) or, without chroots, as the current user.
package mta

import (
	"cmp"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Dovecot is one throwaway Dovecot instance. Set the fields, then Start.
type Dovecot struct {
	Bin      string   // the dovecot binary (default "dovecot" from PATH)
	Dir      string   // configuration, state, logs and the users' homes
	Users    []string // addresses; each has Password and a home in Dir/home/LOCAL
	Password string
	// Loopback ports; 0 leaves a listener off.
	IMAP, IMAPS, POP3, LMTP int
	Cert, Key               string // PEM files for IMAPS
	// MaxConns is how many concurrent sessions (and LMTP deliveries) the
	// instance must take: process and per-user limits are set above it.
	MaxConns int
	Extra    string // appended to the configuration

	uid, gid int
	mu       sync.Mutex // guards cmd and logf
	cmd      *exec.Cmd
	logf     *os.File
}

// dovecotConf is the configuration. As root, mail runs as the "dovecot"
// system user (Dovecot refuses mail access as root); otherwise everything
// runs as the current user (see dovecotUnprivileged). Limits are raised
// so that the comparison measures Dovecot, not its defaults (100
// processes, 10 sessions per user and address).
const dovecotConf = `base_dir = {{dir}}/run
state_dir = {{dir}}/state
log_path = {{dir}}/dovecot.log
protocols = {{protocols}}
listen = 127.0.0.1
ssl = {{ssl}}
disable_plaintext_auth = no
auth_mechanisms = plain login
default_internal_user = {{internal}}
default_internal_group = {{internal}}
default_login_user = {{login}}
first_valid_uid = 1
mail_location = maildir:~/Maildir
mail_fsync = optimized
lmtp_proxy = no
default_process_limit = {{procs}}
default_client_limit = {{clients}}
mail_max_userip_connections = {{procs}}
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {{dir}}/passwd
}
userdb {
  driver = passwd-file
  args = username_format=%u {{dir}}/passwd
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

// listener is one inet_listener of a Dovecot service.
type listener struct {
	service, name string
	port          int
	ssl           bool
}

// config renders dovecotConf with a service block per listener.
func (d *Dovecot) config() string {
	ls := []listener{{"imap-login", "imap", d.IMAP, false}, {"imap-login", "imaps", d.IMAPS, true},
		{"pop3-login", "pop3", d.POP3, false}, {"lmtp", "lmtp", d.LMTP, false}}
	var protos []string
	var services strings.Builder
	for _, l := range ls {
		if l.port == 0 {
			continue
		}
		if p := strings.TrimSuffix(l.service, "-login"); !slices.Contains(protos, p) {
			protos = append(protos, p)
		}
		ssl := ""
		if l.ssl {
			ssl = "    ssl = yes\n"
		}
		fmt.Fprintf(&services, "service %s {\n  inet_listener %s {\n    address = 127.0.0.1\n    port = %d\n%s  }\n}\n",
			l.service, l.name, l.port, ssl)
	}
	procs := max(d.MaxConns+100, 200)
	// imap and pop3 have their own process_limit (1024), above the default.
	for _, p := range protos {
		if p == "imap" || p == "pop3" {
			fmt.Fprintf(&services, "service %s {\n  process_limit = %d\n}\n", p, procs)
		}
	}
	ssl := "no"
	if d.IMAPS != 0 {
		ssl = "yes\nssl_cert = <" + d.Cert + "\nssl_key = <" + d.Key
	}
	internal, login := "dovecot", "dovenull"
	if os.Getuid() != 0 {
		if me, err := user.Current(); err == nil {
			internal, login = me.Username, me.Username
		}
		services.WriteString(dovecotUnprivileged)
	}
	return strings.NewReplacer("{{dir}}", d.Dir, "{{protocols}}", strings.Join(protos, " "), "{{ssl}}", ssl,
		"{{internal}}", internal, "{{login}}", login,
		"{{procs}}", strconv.Itoa(procs), "{{clients}}", strconv.Itoa(3*procs)).Replace(dovecotConf) + services.String() + d.Extra
}

// DovecotVersion is what dovecot --version says ("2.3.19.1"), or "?".
func DovecotVersion() string {
	out, err := exec.Command("dovecot", "--version").Output()
	if f := strings.Fields(string(out)); err == nil && len(f) > 0 {
		return f[0]
	}
	return "?"
}

// Home is the home directory of addr; its Maildir is Home(addr)/Maildir.
func (d *Dovecot) Home(addr string) string {
	local, _, _ := strings.Cut(addr, "@")
	return filepath.Join(d.Dir, "home", local)
}

// Prepare writes the configuration and the passwd-file and creates the
// homes (owned by the dovecot user). Start calls it; call it first to
// put mail into a Maildir before Dovecot starts.
func (d *Dovecot) Prepare() error {
	dir, err := filepath.Abs(d.Dir)
	if err != nil {
		return err
	}
	d.Dir = dir
	d.uid, d.gid = os.Getuid(), os.Getgid()
	if d.uid == 0 {
		u, err := user.Lookup("dovecot")
		if err != nil {
			return fmt.Errorf("the dovecot user (package dovecot-core): %w", err)
		}
		d.uid, _ = strconv.Atoi(u.Uid)
		d.gid, _ = strconv.Atoi(u.Gid)
	}
	for _, sub := range []string{"run", "state", "home"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
			return err
		}
	}
	os.Chmod(dir, 0o755) // MkdirTemp makes 0700; the mail processes must reach the homes
	var passwd strings.Builder
	for _, a := range d.Users {
		home := d.Home(a)
		for _, sub := range []string{"cur", "new", "tmp"} {
			if err := os.MkdirAll(filepath.Join(home, "Maildir", sub), 0o700); err != nil {
				return err
			}
		}
		fmt.Fprintf(&passwd, "%s:{PLAIN}%s:%d:%d::%s::\n", a, d.Password, d.uid, d.gid, home)
	}
	if err := os.WriteFile(filepath.Join(dir, "passwd"), []byte(passwd.String()), 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "dovecot.conf"), []byte(d.config()), 0o644)
}

// Start prepares the directory (see Prepare), gives the homes to the
// dovecot user and starts Dovecot in the foreground, returning once it
// accepts connections.
func (d *Dovecot) Start() error {
	if err := d.Prepare(); err != nil {
		return err
	}
	err := filepath.Walk(filepath.Join(d.Dir, "home"), func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, d.uid, d.gid)
	})
	if err != nil {
		return err
	}
	bin := d.Bin
	if bin == "" {
		bin = "dovecot"
	}
	cmd, logf, err := StartLogged(filepath.Join(d.Dir, "master.log"), bin, "-F", "-c", filepath.Join(d.Dir, "dovecot.conf"))
	if err != nil {
		return err
	}
	d.mu.Lock()
	d.cmd, d.logf = cmd, logf
	d.mu.Unlock()
	port := cmp.Or(d.IMAP, d.IMAPS, d.POP3, d.LMTP)
	if err := WaitListening(net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), 10*time.Second); err != nil {
		d.Stop()
		return fmt.Errorf("dovecot did not start (see %s/master.log and dovecot.log): %w", d.Dir, err)
	}
	return nil
}

// Pid is the master process's id (0 when not running).
func (d *Dovecot) Pid() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.cmd == nil {
		return 0
	}
	return d.cmd.Process.Pid
}

// Stop stops Dovecot and waits until the master and its children have
// exited. It may be called from a signal handler while another goroutine
// uses d.
func (d *Dovecot) Stop() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.cmd == nil {
		return
	}
	kids := children(d.cmd.Process.Pid)
	StopProcess(d.cmd, 30*time.Second)
	reap(kids, 5*time.Second)
	d.logf.Close()
	d.cmd, d.logf = nil, nil
}

// Restart stops and starts Dovecot.
func (d *Dovecot) Restart() error {
	d.Stop()
	return d.Start()
}

// StartLogged starts a command whose output is appended to logPath.
func StartLogged(logPath, bin string, args ...string) (*exec.Cmd, *os.File, error) {
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, nil, err
	}
	return cmd, logf, nil
}

// StopProcess sends SIGTERM, then SIGKILL after grace, and reaps cmd.
func StopProcess(cmd *exec.Cmd, grace time.Duration) {
	cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(grace):
		cmd.Process.Kill()
		<-done
	}
}

// WaitListening waits until addr accepts a TCP connection.
func WaitListening(addr string, timeout time.Duration) error {
	for deadline := time.Now().Add(timeout); ; {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return err
		}
		time.Sleep(100 * time.Millisecond)
	}
}
