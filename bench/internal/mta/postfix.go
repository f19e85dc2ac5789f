package mta

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Postfix is one throwaway Postfix instance with its own config_directory
// and queue_directory under Dir: smtpd on a loopback port, Domain a
// virtual mailbox domain whose Users are handed over LMTP to LMTP
// (host:port, e.g. a Dovecot). Postfix answers 250 once the message is
// fsynced in its queue and delivers afterwards.
type Postfix struct {
	Dir    string
	Port   int
	Domain string
	Users  []string
	LMTP   string
}

const postfixMain = `compatibility_level = 3.6
queue_directory = {{dir}}/queue
data_directory = {{dir}}/data
maillog_file = {{dir}}/maillog
maillog_file_prefixes = /tmp
mail_owner = postfix
setgid_group = postdrop
myhostname = bench-postfix.test
mydomain = bench-postfix.test
myorigin = bench-postfix.test
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
mydestination =
relayhost =
virtual_mailbox_domains = {{domain}}
virtual_mailbox_maps = inline:{ {{users}} }
virtual_transport = lmtp:inet:{{lmtp}}
smtpd_recipient_restrictions = permit_mynetworks, reject_unauth_destination
default_process_limit = 200
smtpd_client_connection_count_limit = 0
smtpd_client_connection_rate_limit = 0
lmtp_destination_concurrency_limit = 50
smtputf8_enable = no
biff = no
`

func (p *Postfix) etc() string { return filepath.Join(p.Dir, "etc") }

// Start writes the configuration (master.cf from the system's, with our
// port instead of 25 and no chroot, since the queue is elsewhere) and
// starts Postfix, returning once smtpd accepts connections.
func (p *Postfix) Start() error {
	dir, err := filepath.Abs(p.Dir)
	if err != nil {
		return err
	}
	p.Dir = dir
	for _, sub := range []string{"etc", "queue", "data"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
			return err
		}
	}
	os.Chmod(dir, 0o755)
	u, err := user.Lookup("postfix")
	if err != nil {
		return fmt.Errorf("the postfix user (package postfix): %w", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	if err := os.Chown(filepath.Join(dir, "data"), uid, -1); err != nil {
		return err
	}
	master, err := os.ReadFile("/etc/postfix/master.cf")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(p.etc(), "master.cf"), []byte(MasterCf(string(master), p.Port)), 0o644); err != nil {
		return err
	}
	users := make([]string, len(p.Users))
	for i, a := range p.Users {
		users[i] = a + "=ok"
	}
	conf := strings.NewReplacer("{{dir}}", dir, "{{domain}}", p.Domain, "{{users}}", strings.Join(users, ", "),
		"{{lmtp}}", p.LMTP).Replace(postfixMain)
	if err := os.WriteFile(filepath.Join(p.etc(), "main.cf"), []byte(conf), 0o644); err != nil {
		return err
	}
	for _, args := range [][]string{{"check"}, {"start"}} {
		if out, err := exec.Command("postfix", append([]string{"-c", p.etc()}, args...)...).CombinedOutput(); err != nil {
			return fmt.Errorf("postfix %s: %v\n%s", args[0], err, out)
		}
	}
	if err := WaitListening(net.JoinHostPort("127.0.0.1", strconv.Itoa(p.Port)), 10*time.Second); err != nil {
		p.Stop()
		return fmt.Errorf("postfix did not start (see %s/maillog): %w", dir, err)
	}
	return nil
}

// Stop stops Postfix and waits until its master has exited.
func (p *Postfix) Stop() {
	pidFile := filepath.Join(p.Dir, "queue", "pid", "master.pid")
	b, _ := os.ReadFile(pidFile)
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	exec.Command("postfix", "-c", p.etc(), "stop").Run()
	for i := 0; pid > 0 && i < 100 && syscall.Kill(pid, 0) == nil; i++ {
		time.Sleep(100 * time.Millisecond)
	}
}

// MasterCf rewrites a master.cf: the "smtp inet" service listens on port
// instead, and no service runs chrooted (the fifth column).
func MasterCf(master string, port int) string {
	lines := strings.Split(master, "\n")
	for i, l := range lines {
		f := strings.Fields(l)
		if len(f) < 8 || strings.HasPrefix(l, "#") || l[0] == ' ' || l[0] == '\t' {
			continue
		}
		if f[0] == "smtp" && f[1] == "inet" {
			f[0] = strconv.Itoa(port)
		}
		f[4] = "n"
		lines[i] = strings.Join(f, " ")
	}
	return strings.Join(lines, "\n")
}
