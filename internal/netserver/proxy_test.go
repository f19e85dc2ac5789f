package netserver

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"io"
	"log/slog"
	"net/netip"
	"strings"
	"testing"

	"github.com/youju/youju/internal/testutil"
)

// v2 builds a version 2 header: command, family/transport, body.
func v2(cmd, fam byte, body []byte) string {
	var b bytes.Buffer
	b.Write(v2Sig)
	b.WriteByte(0x20 | cmd)
	b.WriteByte(fam)
	binary.Write(&b, binary.BigEndian, uint16(len(body)))
	b.Write(body)
	return b.String()
}

func ipv4Block() []byte {
	return []byte{203, 0, 113, 7, 198, 51, 100, 1, 0x16, 0x2e, 0, 25} // :5678 -> :25
}

func ipv6Block() []byte {
	b := make([]byte, 36)
	copy(b, netip.MustParseAddr("2001:db8::7").AsSlice())
	copy(b[16:], netip.MustParseAddr("2001:db8::1").AsSlice())
	binary.BigEndian.PutUint16(b[32:], 5678)
	binary.BigEndian.PutUint16(b[34:], 993)
	return b
}

func TestReadProxyHeader(t *testing.T) {
	for _, tc := range []struct {
		name, in, src string // src "" with ok: no address (keep the peer's)
		ok            bool
	}{
		{"v1 tcp4", "PROXY TCP4 203.0.113.7 198.51.100.1 5678 25\r\n", "203.0.113.7:5678", true},
		{"v1 tcp6", "PROXY TCP6 2001:db8::7 2001:db8::1 5678 993\r\n", "[2001:db8::7]:5678", true},
		{"v1 unknown", "PROXY UNKNOWN\r\n", "", true},
		{"v1 unknown with addresses", "PROXY UNKNOWN ffff::1 ffff::2 1 2\r\n", "", true},
		{"v1 family mismatch", "PROXY TCP4 2001:db8::7 2001:db8::1 5678 25\r\n", "", false},
		{"v1 mixed families", "PROXY TCP4 203.0.113.7 2001:db8::1 5678 25\r\n", "", false},
		{"v1 port leading zero", "PROXY TCP4 203.0.113.7 198.51.100.1 05678 25\r\n", "", false},
		{"v1 port too big", "PROXY TCP4 203.0.113.7 198.51.100.1 65536 25\r\n", "", false},
		{"v1 port sign", "PROXY TCP4 203.0.113.7 198.51.100.1 +5 25\r\n", "", false},
		{"v1 double space", "PROXY TCP4  203.0.113.7 198.51.100.1 5678 25\r\n", "", false},
		{"v1 bare LF", "PROXY TCP4 203.0.113.7 198.51.100.1 5678 25\n", "", false},
		{"v1 too long", "PROXY TCP6 " + strings.Repeat("f", 120) + "\r\n", "", false},
		{"v1 zone", "PROXY TCP6 fe80::1%eth0 fe80::2 1 2\r\n", "", false},
		{"v2 inet", v2(1, 0x11, ipv4Block()), "203.0.113.7:5678", true},
		{"v2 inet with TLVs", v2(1, 0x11, append(ipv4Block(), 0x01, 0, 2, 'h', '2')), "203.0.113.7:5678", true},
		{"v2 inet6", v2(1, 0x21, ipv6Block()), "[2001:db8::7]:5678", true},
		{"v2 local", v2(0, 0x00, nil), "", true},
		{"v2 unspec", v2(1, 0x00, nil), "", true},
		{"v2 udp", v2(1, 0x12, ipv4Block()), "", true},
		{"v2 short inet", v2(1, 0x11, ipv4Block()[:8]), "", false},
		{"v2 short inet6", v2(1, 0x21, ipv6Block()[:20]), "", false},
		{"v2 bad command", v2(2, 0x11, ipv4Block()), "", false},
		{"v2 version 1", strings.Replace(v2(1, 0x11, ipv4Block()), "\x21", "\x11", 1), "", false},
		{"v2 bad signature", "\r\n\r\n\x00\r\nQUIZ\n\x21\x11\x00\x0c" + string(ipv4Block()), "", false},
		{"v2 body over limit", v2Sig2(0xffff), "", false},
		{"v2 truncated", v2(1, 0x11, ipv4Block())[:20], "", false},
		{"not a header", "a001 LOGIN alice secret\r\n", "", false},
		{"empty", "", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, err := ReadProxyHeader(strings.NewReader(tc.in))
			if (err == nil) != tc.ok {
				t.Fatalf("err %v, want ok %v", err, tc.ok)
			}
			if !tc.ok {
				return
			}
			got := ""
			if h.Source.IsValid() {
				got = h.Source.String()
			}
			if got != tc.src {
				t.Fatalf("source %q, want %q", got, tc.src)
			}
		})
	}
}

func v2Sig2(n uint16) string {
	var b bytes.Buffer
	b.Write(v2Sig)
	b.Write([]byte{0x21, 0x11})
	binary.Write(&b, binary.BigEndian, n)
	return b.String()
}

// TestReadProxyHeaderStops: the header is read and not a byte more; what
// follows (a TLS ClientHello, a command) stays for the protocol.
func TestReadProxyHeaderStops(t *testing.T) {
	for _, hdr := range []string{"PROXY TCP4 203.0.113.7 198.51.100.1 5678 25\r\n", v2(1, 0x11, ipv4Block())} {
		r := strings.NewReader(hdr + "EHLO x\r\n")
		if _, err := ReadProxyHeader(r); err != nil {
			t.Fatal(err)
		}
		if rest, _ := io.ReadAll(r); string(rest) != "EHLO x\r\n" {
			t.Fatalf("left %q", rest)
		}
	}
}

func FuzzReadProxyHeader(f *testing.F) {
	f.Add("PROXY TCP4 203.0.113.7 198.51.100.1 5678 25\r\nrest")
	f.Add("PROXY UNKNOWN\r\n")
	f.Add(v2(1, 0x11, ipv4Block()) + "rest")
	f.Add(v2(1, 0x21, ipv6Block()))
	f.Add(v2(0, 0, nil))
	f.Fuzz(func(t *testing.T, in string) {
		r := strings.NewReader(in)
		h, err := ReadProxyHeader(r)
		consumed := len(in) - r.Len()
		if consumed > 16+maxV2Body {
			t.Fatalf("read %d bytes", consumed)
		}
		if err != nil {
			return
		}
		if h.Source.IsValid() && h.Source.Addr().Is4In6() {
			t.Fatalf("mapped address %v", h.Source)
		}
		// A header that parsed is read again the same from its own bytes.
		h2, err := ReadProxyHeader(strings.NewReader(in[:consumed]))
		if err != nil || h2 != h {
			t.Fatalf("re-read %v %v, want %v", h2, err, h)
		}
	})
}

// TestProxyListener: over real sockets, a trusted peer's header sets the
// address the limits and the handler see; an untrusted peer's header is
// just data.
func TestProxyListener(t *testing.T) {
	remotes := make(chan string, 4)
	s := &Server{Proto: "test", Logger: slog.New(slog.DiscardHandler), Refusal: "NO full\r\n"}
	s.MaxPerIP = 1
	s.Handler = func(c *Conn) {
		line, _ := bufio.NewReader(c).ReadString('\n')
		remotes <- c.Remote.String() + " " + c.RemoteAddr().String() + " " + line
		io.ReadAll(c)
	}
	l := &ProxyListener{Listener: listen(t), Trusted: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}}
	go s.Serve(l, false)
	t.Cleanup(func() { s.Shutdown(t.Context()) })
	addr := l.Addr().String()

	a := testutil.DialFrom(t, "127.0.0.1", addr)
	a.Write([]byte("PROXY TCP4 203.0.113.7 198.51.100.1 5678 25\r\nhello\r\n"))
	if got := <-remotes; got != "203.0.113.7 203.0.113.7:5678 hello\r\n" {
		t.Fatalf("trusted: %q", got)
	}
	// MaxPerIP counts the client's address, not the balancer's: a second
	// client through it gets in, a second connection of 203.0.113.7 not.
	b := testutil.DialFrom(t, "127.0.0.1", addr)
	b.Write([]byte(v2(1, 0x11, []byte{198, 51, 100, 9, 198, 51, 100, 1, 0, 1, 0, 25}) + "hi\r\n"))
	if got := <-remotes; got != "198.51.100.9 198.51.100.9:1 hi\r\n" {
		t.Fatalf("trusted v2: %q", got)
	}
	c := testutil.DialFrom(t, "127.0.0.1", addr)
	c.Write([]byte("PROXY TCP4 203.0.113.7 198.51.100.1 5679 25\r\n"))
	if got, _ := testutil.ReadUntilClosed(c); got != "NO full\r\n" {
		t.Fatalf("second connection of one client: %q", got)
	}
	// Untrusted: the header is the protocol's first line.
	u := testutil.DialFrom(t, "127.0.0.2", addr)
	u.Write([]byte("PROXY TCP4 203.0.113.8 198.51.100.1 5678 25\r\n"))
	if got := <-remotes; !strings.HasPrefix(got, "127.0.0.2 127.0.0.2:") || !strings.HasSuffix(got, " PROXY TCP4 203.0.113.8 198.51.100.1 5678 25\r\n") {
		t.Fatalf("untrusted: %q", got)
	}
	// A trusted peer with a broken header is dropped.
	x := testutil.DialFrom(t, "127.0.0.1", addr)
	x.Write([]byte("PROXY TCP4 nonsense\r\n"))
	if got, closed := testutil.ReadUntilClosed(x); !closed || got != "" {
		t.Fatalf("broken header: %q", got)
	}
}
