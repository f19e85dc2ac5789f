package testutil

import (
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// dovecotConf is a throwaway Dovecot 2.3 configuration: IMAP only, on a
// loopback port, without TLS, plaintext LOGIN, one passwd-file user whose
// Maildir++ is in the directory; mail runs as the "dovecot" system user
// (Dovecot refuses mail access as root).
const dovecotConf = `base_dir = {{dir}}/run
state_dir = {{dir}}/state
log_path = {{dir}}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
default_internal_user = dovecot
default_internal_group = dovecot
default_login_user = dovenull
first_valid_uid = 1
mail_location = maildir:~/Maildir
namespace inbox {
  inbox = yes
  separator = /
  mailbox Sent {
    special_use = \Sent
  }
}
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {{dir}}/passwd
}
userdb {
  driver = static
  args = uid={{uid}} gid={{gid}} home={{dir}}/home/%n
}
service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = {{port}}
  }
  inet_listener imaps {
    port = 0
  }
}
`

// Dovecot is a Dovecot IMAP server started by a test.
type Dovecot struct {
	Addr           string // 127.0.0.1:port, plaintext IMAP
	User, Password string
	Maildir        string // the user's Maildir++ root
	Dir            string // config, logs
	pid            int    // the master process
}

// CPU is the processor time Dovecot has used so far: its master and
// every process of it that ended (the imap processes of connections that
// logged out), read from /proc; 0 where there is none.
func (d *Dovecot) CPU() time.Duration {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(d.pid) + "/stat")
	if err != nil {
		return 0
	}
	// Fields after the command name (which may hold spaces, in
	// parentheses): utime, stime, cutime and cstime are the 12th to
	// 15th (proc(5): fields 14 to 17).
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 15 {
		return 0
	}
	var ticks int64
	for _, x := range f[11:15] {
		n, _ := strconv.ParseInt(x, 10, 64)
		ticks += n
	}
	return time.Duration(ticks) * time.Second / 100 // USER_HZ is 100 on Linux
}

// StartDovecot starts Debian's Dovecot (package dovecot-imapd) on a
// loopback port with one user whose Maildir populate writes before the
// server starts. It is stopped when the test ends. Without dovecot (or
// not as root) the test is skipped locally and fails in CI.
func StartDovecot(tb testing.TB, populate func(maildir string)) *Dovecot {
	tb.Helper()
	NeedCommand(tb, "dovecot", "dovecot-imapd")
	if os.Geteuid() != 0 {
		Missing(tb, "dovecot needs root to switch to its mail user")
	}
	u, err := user.Lookup("dovecot")
	if err != nil {
		Missing(tb, "no dovecot system user: "+err.Error())
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	// Dovecot's processes (dovenull, dovecot) must reach the directory:
	// not under t.TempDir(), whose parent is 0700.
	dir, err := os.MkdirTemp("", "youju-dovecot-")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o755)
	d := &Dovecot{User: "remote@example.net", Password: "remote-pw", Dir: dir, Maildir: filepath.Join(dir, "home", "remote", "Maildir")}
	for _, sub := range []string{"run", "state", "Maildir/cur", "Maildir/new", "Maildir/tmp"} {
		p := filepath.Join(dir, sub)
		if strings.HasPrefix(sub, "Maildir") {
			p = filepath.Join(d.Maildir, strings.TrimPrefix(sub, "Maildir"))
		}
		if err := os.MkdirAll(p, 0o755); err != nil {
			tb.Fatal(err)
		}
	}
	populate(d.Maildir)
	err = filepath.Walk(filepath.Join(dir, "home"), func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, uid, gid)
	})
	if err != nil {
		tb.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	conf := strings.NewReplacer("{{dir}}", dir, "{{uid}}", u.Uid, "{{gid}}", u.Gid, "{{port}}", strconv.Itoa(port)).Replace(dovecotConf)
	confPath := filepath.Join(dir, "dovecot.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "passwd"), []byte(d.User+":{PLAIN}"+d.Password+"::::::\n"), 0o644); err != nil {
		tb.Fatal(err)
	}
	cmd := exec.Command("dovecot", "-F", "-c", confPath)
	logf, err := os.Create(filepath.Join(dir, "master.log"))
	if err != nil {
		tb.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	d.pid = cmd.Process.Pid
	tb.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
		logf.Close()
	})
	d.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	for i := 0; ; i++ {
		c, err := net.DialTimeout("tcp", d.Addr, time.Second)
		if err == nil {
			c.Close()
			break
		}
		if i == 100 {
			log, _ := os.ReadFile(filepath.Join(dir, "dovecot.log"))
			mlog, _ := os.ReadFile(filepath.Join(dir, "master.log"))
			tb.Fatalf("dovecot did not start:\n%s\n%s", mlog, log)
		}
		time.Sleep(100 * time.Millisecond)
	}
	return d
}
