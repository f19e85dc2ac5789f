package spam

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
)

// FakeClamd is our own server of clamd's INSTREAM protocol: it answers
// FOUND for a stream containing "EICAR", after checking the framing.
func FakeClamd(t testing.TB) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func(c net.Conn) {
				defer c.Close()
				cmd := make([]byte, len("zINSTREAM\x00"))
				if _, err := io.ReadFull(c, cmd); err != nil || string(cmd) != "zINSTREAM\x00" {
					c.Write([]byte("UNKNOWN COMMAND\x00"))
					return
				}
				var body bytes.Buffer
				for {
					var n uint32
					if err := binary.Read(c, binary.BigEndian, &n); err != nil {
						return
					}
					if n == 0 {
						break
					}
					if _, err := io.CopyN(&body, c, int64(n)); err != nil {
						return
					}
				}
				if bytes.Contains(body.Bytes(), []byte("EICAR")) {
					c.Write([]byte("stream: Eicar-Test-Signature FOUND\x00"))
				} else {
					c.Write([]byte("stream: OK\x00"))
				}
			}(c)
		}
	}()
	return l.Addr().String()
}

// FakeRspamd answers /checkv2: "reject" for a message containing
// "REJECTME", "add header" for "SPAMMY", else "no action"; it checks
// the envelope headers.
func FakeRspamd(t testing.TB) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/checkv2" || r.Method != http.MethodPost || r.Header.Get("From") == "" || len(r.Header.Values("Rcpt")) == 0 {
			http.Error(w, "bad request", 400)
			return
		}
		b, _ := io.ReadAll(r.Body)
		act := "no action"
		switch {
		case bytes.Contains(b, []byte("REJECTME")):
			act = "reject"
		case bytes.Contains(b, []byte("SPAMMY")):
			act = "add header"
		}
		json.NewEncoder(w).Encode(map[string]any{"action": act, "score": 1.5, "required_score": 15})
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func TestClamd(t *testing.T) {
	c := &Clamd{Addr: FakeClamd(t)}
	big := bytes.Repeat([]byte("x"), 200<<10) // several chunks
	if v, err := c.Scan(context.Background(), append(big, "EICAR"...)); err != nil || v != "Eicar-Test-Signature" {
		t.Fatalf("infected: %q %v", v, err)
	}
	if v, err := c.Scan(context.Background(), big); err != nil || v != "" {
		t.Fatalf("clean: %q %v", v, err)
	}
	down := &Clamd{Addr: "127.0.0.1:1"}
	if _, err := down.Scan(context.Background(), big); !errors.Is(err, ErrScanner) {
		t.Fatalf("down: %v", err)
	}
}

func TestRspamdAndPolicy(t *testing.T) {
	env := Envelope{IP: "192.0.2.1", From: "a@b.example", Rcpts: []string{"u@example.com"}}
	c := &Checker{Rspamd: &Rspamd{URL: FakeRspamd(t)}}
	if r := c.Scan(context.Background(), env, []byte("Subject: x\r\n\r\nREJECTME\r\n")); c.Verdict(r.Score) != Reject {
		t.Errorf("reject: %+v", r)
	}
	if r := c.Scan(context.Background(), env, []byte("Subject: x\r\n\r\nSPAMMY\r\n")); c.Verdict(r.Score) != Junk {
		t.Errorf("add header: %+v", r)
	}
	if r := c.Scan(context.Background(), env, []byte("Subject: x\r\n\r\nhello\r\n")); r.Score.Total != 0 || r.Tempfail {
		t.Errorf("clean: %+v", r)
	}
	c = &Checker{Rspamd: &Rspamd{URL: "http://127.0.0.1:1"}, Clamd: &Clamd{Addr: "127.0.0.1:1"}}
	if r := c.Scan(context.Background(), env, []byte("x")); r.Tempfail || r.Virus != "" {
		t.Errorf("down, accept policy: %+v", r)
	}
	c.ScannerTempfail = true
	if r := c.Scan(context.Background(), env, []byte("x")); !r.Tempfail {
		t.Errorf("down, tempfail policy: %+v", r)
	}
}
