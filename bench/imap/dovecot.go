package main

import (
	"net"
	"path/filepath"
	"strconv"

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
	if err := imapc.WriteMaildir(filepath.Join(d.Home(mailUser), "Maildir"), n); err != nil {
		return "", nil, err
	}
	if err := d.Start(); err != nil {
		return "", nil, err
	}
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), d.Stop, nil
}
