package mta

import (
	"os"
	"strings"
	"testing"
	"time"
)

func TestParsePSS(t *testing.T) {
	rollup := `55d1c8f5e000-7ffd4b5f6000 ---p 00000000 00:00 0                          [rollup]
Rss:                8820 kB
Pss:                2717 kB
Pss_Anon:           1460 kB
Pss_File:           1257 kB
Shared_Clean:       6696 kB
`
	kb, err := ParsePSS(strings.NewReader(rollup))
	if err != nil || kb != 2717 {
		t.Fatalf("ParsePSS = %d, %v; want 2717", kb, err)
	}
	if _, err := ParsePSS(strings.NewReader("Rss: 8820 kB\nPss_Anon: 1460 kB\n")); err == nil {
		t.Fatal("ParsePSS without a Pss line: no error")
	}
	// This process's own, when the kernel has smaps_rollup.
	if _, err := os.Stat("/proc/self/smaps_rollup"); err == nil {
		if kb, err := PSS(os.Getpid()); err != nil || kb <= 0 {
			t.Fatalf("PSS(self) = %d, %v", kb, err)
		}
	}
}

func TestParseStat(t *testing.T) {
	for _, c := range []struct {
		in   string
		pid  int
		comm string
		ppid int
		ok   bool
	}{
		{"4242 (imap-login) S 17 4242 17 0 -1 4194560 263", 4242, "imap-login", 17, true},
		{"7 (a) b) (c) R 1 7 7", 7, "a) b) (c", 1, true}, // the name ends at the last ')'
		{"7 imap S 1", 0, "", 0, false},
		{"x (imap) S 1", 0, "", 0, false},
		{"7 (imap)", 0, "", 0, false},
	} {
		pid, comm, ppid, ok := ParseStat(c.in)
		if pid != c.pid || comm != c.comm || ppid != c.ppid || ok != c.ok {
			t.Errorf("ParseStat(%q) = %d %q %d %v; want %d %q %d %v", c.in, pid, comm, ppid, ok, c.pid, c.comm, c.ppid, c.ok)
		}
	}
}

func TestParseStatCPU(t *testing.T) {
	// utime 150 and stime 25 ticks: fields 14 and 15, counted after the
	// name (which may hold spaces and parentheses).
	line := "4242 (you ju) S 1 4242 4242 0 -1 4194560 263 0 0 0 150 25 0 0 20 0 12 0"
	if got, want := ParseStatCPU(line), 1750*time.Millisecond; got != want {
		t.Errorf("ParseStatCPU = %v, want %v", got, want)
	}
	if got := ParseStatCPU("7 (imap) S 1"); got != 0 {
		t.Errorf("ParseStatCPU(short line) = %v, want 0", got)
	}
	if CPUTime([]int{os.Getpid()}) < 0 {
		t.Error("CPUTime(self) < 0")
	}
}

func TestMasterCf(t *testing.T) {
	in := "# comment smtp inet n - y - - smtpd\n" +
		"smtp      inet  n       -       y       -       -       smtpd\n" +
		"pickup    unix  n       -       y       60      1       pickup\n" +
		"smtp      unix  -       -       y       -       -       smtp\n" +
		"  -o syslog_name=postfix/$service_name\n"
	want := "# comment smtp inet n - y - - smtpd\n" +
		"2526 inet n - n - - smtpd\n" +
		"pickup unix n - n 60 1 pickup\n" +
		"smtp unix - - n - - smtp\n" +
		"  -o syslog_name=postfix/$service_name\n"
	if got := MasterCf(in, 2526); got != want {
		t.Errorf("MasterCf:\n%s\nwant:\n%s", got, want)
	}
}

func TestDovecotConfig(t *testing.T) {
	d := &Dovecot{Dir: "/d", IMAP: 143, LMTP: 24, MaxConns: 2000}
	c := d.config()
	for _, want := range []string{"protocols = imap lmtp\n", "ssl = no\n", "default_process_limit = 2100\n",
		"mail_max_userip_connections = 2100\n", "service imap {\n  process_limit = 2100\n}\n", "port = 143\n", "port = 24\n", "args = scheme=PLAIN username_format=%u /d/passwd\n"} {
		if !strings.Contains(c, want) {
			t.Errorf("config lacks %q:\n%s", want, c)
		}
	}
	if strings.Contains(c, "{{") {
		t.Errorf("config has an unreplaced placeholder:\n%s", c)
	}
	d = &Dovecot{Dir: "/d", IMAPS: 993, Cert: "/c.pem", Key: "/k.pem"}
	if c := d.config(); !strings.Contains(c, "protocols = imap\nlisten") || !strings.Contains(c, "ssl = yes\nssl_cert = </c.pem\nssl_key = </k.pem\n") {
		t.Errorf("IMAPS config:\n%s", c)
	}
}
