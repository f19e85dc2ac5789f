package importer

import (
	"errors"
	"fmt"
	"io"
	"net"
	"sync/atomic"
	"testing"

	"github.com/emersion/go-imap/v2"

	"github.com/youju/youju/internal/testutil"
)

func TestRetryable(t *testing.T) {
	for _, c := range []struct {
		err  error
		want bool
	}{
		{&imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeUnavailable, Text: "try later"}, true},
		{&imap.Error{Type: imap.StatusResponseTypeBye, Text: "too many connections"}, true},
		{&imap.Error{Type: imap.StatusResponseTypeNo, Text: "Frequency limited"}, true},
		{&imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeAuthenticationFailed, Text: "bad password"}, false},
		{fmt.Errorf("login: %w", &imap.Error{Type: imap.StatusResponseTypeNo, Text: "LOGIN failed"}), false},
		{io.ErrUnexpectedEOF, true},
		{errors.New("something else"), false},
	} {
		if got := retryable(c.err); got != c.want {
			t.Errorf("retryable(%v) = %v", c.err, got)
		}
	}
}

// byeProxy stands in front of addr: its first n connections get a
// throttling "* BYE" (as QQ sends to a client that is too fast), later
// ones are passed through.
func byeProxy(t *testing.T, addr string, n int32) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	var count atomic.Int32
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			if count.Add(1) <= n {
				io.WriteString(c, "* BYE [UNAVAILABLE] System busy, please try again later\r\n")
				c.Close()
				continue
			}
			go func() {
				defer c.Close()
				up, err := net.Dial("tcp", addr)
				if err != nil {
					return
				}
				defer up.Close()
				go io.Copy(up, c)
				io.Copy(c, up)
			}()
		}
	}()
	return l.Addr().String()
}

// TestIMAPImportBacksOffOnBye imports through a server that first answers
// "* BYE" twice: the import waits, reconnects and completes.
func TestIMAPImportBacksOffOnBye(t *testing.T) {
	var want map[string]remoteMsg
	d := testutil.StartDovecot(t, func(md string) { want = populateRemote(t, md, 40) })
	proxied := *d
	proxied.Addr = byeProxy(t, d.Addr, 2)
	st, a := openTestStore(t)
	if _, err := pull(t, st, a.ID, &proxied, t.TempDir(), 0); err != nil {
		t.Fatalf("import through a throttling server: %v", err)
	}
	checkImported(t, st, a.ID, want)
}
