package main

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

// dovecotConf is a throwaway Dovecot 2.3 configuration: IMAP only on a
// loopback port, plaintext LOGIN, one passwd-file user whose Maildir is
// in the directory. Mail runs as the "dovecot" system user (Dovecot
// refuses mail access as root).
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

func dovecotVersion() string {
	out, err := exec.Command("dovecot", "--version").Output()
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(out))
	if len(f) == 0 {
		return "?"
	}
	return f[0]
}

// startDovecot writes the configuration and an n-message Maildir into dir
// (kept between runs) and starts Dovecot in the foreground.
func startDovecot(dir string, port int, mailUser, pass string, n int) (string, func(), error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return "", nil, err
	}
	u, err := user.Lookup("dovecot")
	if err != nil {
		return "", nil, err
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	for _, d := range []string{"run", "state"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return "", nil, err
		}
	}
	conf := strings.NewReplacer("{{dir}}", dir, "{{uid}}", u.Uid, "{{gid}}", u.Gid, "{{port}}", strconv.Itoa(port)).Replace(dovecotConf)
	confPath := filepath.Join(dir, "dovecot.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		return "", nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "passwd"), []byte(mailUser+":{PLAIN}"+pass+"::::::\n"), 0o644); err != nil {
		return "", nil, err
	}
	local, _, _ := strings.Cut(mailUser, "@")
	md := filepath.Join(dir, "home", local, "Maildir")
	if err := writeMaildir(md, n, uid, gid); err != nil {
		return "", nil, err
	}
	cmd := exec.Command("dovecot", "-F", "-c", confPath)
	logf, err := os.Create(filepath.Join(dir, "master.log"))
	if err != nil {
		return "", nil, err
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return "", nil, err
	}
	stop := func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
		logf.Close()
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	for i := 0; ; i++ {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			break
		}
		if i == 100 {
			stop()
			return "", nil, fmt.Errorf("dovecot did not start (see %s/master.log and dovecot.log)", dir)
		}
		time.Sleep(100 * time.Millisecond)
	}
	return addr, stop, nil
}

// writeMaildir writes the benchmark messages into cur/ (flags in the
// names, Maildir ":2,S" for \Seen) unless the Maildir holds n already.
func writeMaildir(md string, n, uid, gid int) error {
	cur := filepath.Join(md, "cur")
	for _, d := range []string{md, cur, filepath.Join(md, "new"), filepath.Join(md, "tmp")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return err
		}
	}
	have, err := os.ReadDir(cur)
	if err != nil {
		return err
	}
	if len(have) >= n {
		return nil
	}
	fmt.Fprintf(os.Stderr, "dovecot: writing %d messages into %s\n", n-len(have), cur)
	base := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC).Unix()
	for i := len(have); i < n; i++ {
		info := ":2,"
		if seen(i) {
			info = ":2,S"
		}
		name := filepath.Join(cur, fmt.Sprintf("%d.M%dP1.bench%s", base+int64(i), i, info))
		if err := os.WriteFile(name, benchMsg(i), 0o600); err != nil {
			return err
		}
	}
	// Dovecot's mail process runs as uid:gid and must reach the home.
	return filepath.Walk(filepath.Dir(filepath.Dir(md)), func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Chown(p, uid, gid)
	})
}
