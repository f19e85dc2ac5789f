package main

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/youju/youju/bench/internal/imapc"
	"github.com/youju/youju/bench/internal/mta"
)

// startDovecot sets up a throwaway Dovecot (IMAP only, on a loopback
// port, plaintext LOGIN, one passwd-file user) in dir, writes an
// n-message Maildir (kept between runs) and starts Dovecot.
func startDovecot(dir string, port int, mailUser, pass string, n int) (string, func(), error) {
	d := &mta.Dovecot{Dir: dir, Users: []string{mailUser}, Password: pass, IMAP: port}
	if err := d.Prepare(); err != nil {
		return "", nil, err
	}
	if err := writeMaildir(filepath.Join(d.Home(mailUser), "Maildir"), n); err != nil {
		return "", nil, err
	}
	if err := d.Start(); err != nil {
		return "", nil, err
	}
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), d.Stop, nil
}

// writeMaildir writes the benchmark messages into cur/ (flags in the
// names, Maildir ":2,S" for \Seen) unless the Maildir holds n already.
func writeMaildir(md string, n int) error {
	cur := filepath.Join(md, "cur")
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
		if imapc.Seen(i) {
			info = ":2,S"
		}
		name := filepath.Join(cur, fmt.Sprintf("%d.M%dP1.bench%s", base+int64(i), i, info))
		if err := os.WriteFile(name, imapc.Msg(i), 0o600); err != nil {
			return err
		}
	}
	return nil
}
