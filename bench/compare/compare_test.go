package main

import (
	"strings"
	"testing"
	"time"

	"github.com/youju/youju/internal/config"
)

func TestTable(t *testing.T) {
	o := &options{conns: 20, size: 10240, messages: 100_000, idle: 2000, smtpMessages: 20000}
	y := &result{smtpRate: 1453.4, acceptRate: 1460, dataP50: 10 * time.Millisecond, dataP90: 23400 * time.Microsecond,
		fillRate: 749, searchSubject: 402 * time.Millisecond, searchBody: 4313 * time.Millisecond,
		selectWarm: 2700 * time.Microsecond, selectFirst: 457 * time.Millisecond, idleKiB: 39.2,
		smtpServerCPU: 251 * time.Microsecond, smtpLoadCPU: 88 * time.Microsecond, selectCPU: 420 * time.Microsecond}
	d := &result{smtpRate: 119, acceptRate: 1104, dataP50: 350 * time.Microsecond, dataP90: 4 * time.Millisecond,
		fillRate: 1292, searchSubject: 190 * time.Millisecond}
	want := `| figure (this machine) | youju | Dovecot |
|---|---|---|
| durable SMTP → visible in IMAP, 20 conns, 10 KB | 1,453 msg/s, DATA p50 10 ms, p90 23 ms | 119 msg/s, DATA p50 0.35 ms, p90 4.0 ms |
| CPU per SMTP message, server / load tool, same run | 251 / 88 µs | — |
| SMTP 250s (acceptance), same run | 1,460 msg/s | 1,104 msg/s |
| IMAP APPEND fill of one INBOX (one client, LITERAL+ pipelined) | 749 msg/s | 1,292 msg/s |
| SEARCH SUBJECT, 100k messages | 402 ms | 190 ms |
| SEARCH BODY, 100k messages | 4,313 ms | — |
| SELECT INBOX of 100k, warm / first after start | 2.7 / 457 ms | — |
| server CPU per warm SELECT | 420 µs | — |
| PSS per idle TLS IMAP connection (2,000 in IDLE) | 39 KiB | — |
`
	if got := table(o, []string{"youju", "Dovecot"}, []*result{y, d}); got != want {
		t.Errorf("table:\n%s\nwant:\n%s", got, want)
	}
}

func TestFormat(t *testing.T) {
	for _, c := range []struct{ got, want string }{
		{thousands(0), "0"}, {thousands(999.5), "1,000"}, {thousands(1234567), "1,234,567"},
		{ms(0), ""}, {ms(999 * time.Microsecond), "1.00 ms"}, {ms(9940 * time.Microsecond), "9.9 ms"},
		{ms(12 * time.Second), "12,000 ms"},
		{size(10240), "10 KB"}, {size(1000), "1000 bytes"},
		{count(100_000), "100k"}, {count(2500), "2,500"}, {count(500), "500"},
	} {
		if c.got != c.want {
			t.Errorf("got %q, want %q", c.got, c.want)
		}
	}
}

func TestSubjectMatches(t *testing.T) {
	// "message 42" is in the subjects of messages 42 and 420..429.
	if n := subjectMatches(42, 1000); n != 11 {
		t.Errorf("subjectMatches(42, 1000) = %d, want 11", n)
	}
	if n := subjectMatches(4242, 100_000); n != 11 {
		t.Errorf("subjectMatches(4242, 100000) = %d, want 11", n)
	}
	if k := searchTarget(100_000); k != 4242 {
		t.Errorf("searchTarget(100000) = %d", k)
	}
	if k := searchTarget(300); k != 100 {
		t.Errorf("searchTarget(300) = %d", k)
	}
}

// TestPatchConfig checks that the settings added to what youju init
// writes are read back by youju's own config parser.
func TestPatchConfig(t *testing.T) {
	c := config.Default("bench.test")
	c.Listen, c.PortOffset = "127.0.0.1", 20000
	conf, err := patchConfig(string(config.Marshal(c)), 2000)
	if err != nil {
		t.Fatal(err)
	}
	got, err := config.Parse("youju.toml", []byte(conf))
	if err != nil {
		t.Fatalf("%v\n%s", err, conf)
	}
	if got.Limits.MaxConnections != 2100 || got.Limits.MaxConnectionsIP != 2100 || !got.Auth.AllowPlaintextLoopback || got.PortOffset != 20000 {
		t.Errorf("patched config: limits %+v, auth %+v", got.Limits, got.Auth)
	}
	if _, err := patchConfig(strings.Replace(conf, "[auth]", "[authx]", 1), 10); err == nil {
		t.Error("patchConfig without an [auth] table: no error")
	}
}
