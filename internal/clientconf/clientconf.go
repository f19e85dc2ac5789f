// Package clientconf computes the settings a mail client needs (server,
// port, security, user name) from the configuration, once, for every place
// that tells them: the console at start, the settings page, autoconfig.
package clientconf

import (
	"net"
	"strconv"

	"github.com/youju/youju/internal/config"
)

// Security is how a client secures a connection.
type Security string

// The two kinds of security clients offer (RFC 8314 prefers implicit TLS).
const (
	TLS      Security = "SSL/TLS"
	StartTLS Security = "STARTTLS"
)

// Entry is one way to reach one service.
type Entry struct {
	Protocol string // "IMAP", "POP3", "SMTP"
	Role     string // "incoming" or "outgoing"
	Host     string
	Port     int
	Security Security
}

// Settings lists, for host, the entries of every enabled client listener,
// preferred first within each protocol (implicit TLS before STARTTLS).
func Settings(c config.Config, host string) []Entry {
	type l struct {
		proto, role, setting string
		sec                  Security
	}
	ls := []l{
		{"IMAP", "incoming", c.Listeners.IMAPS, TLS},
		{"IMAP", "incoming", c.Listeners.IMAP, StartTLS},
		{"POP3", "incoming", c.Listeners.POP3S, TLS},
		{"POP3", "incoming", c.Listeners.POP3, StartTLS},
		{"SMTP", "outgoing", c.Listeners.Submissions, TLS},
		{"SMTP", "outgoing", c.Listeners.Submission, StartTLS},
	}
	var out []Entry
	for _, x := range ls {
		addr, err := c.Address(x.setting)
		if err != nil || addr == "" {
			continue
		}
		_, p, err := net.SplitHostPort(addr)
		if err != nil {
			continue
		}
		port, err := strconv.Atoi(p)
		if err != nil || port == 0 {
			continue
		}
		out = append(out, Entry{Protocol: x.proto, Role: x.role, Host: host, Port: port, Security: x.sec})
	}
	return out
}
