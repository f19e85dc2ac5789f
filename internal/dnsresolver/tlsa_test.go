package dnsresolver

import (
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"net"
	"os"
	"sync/atomic"
	"testing"

	"golang.org/x/net/dns/dnsmessage"
)

// dnsServer is a loopback DNS server on UDP and TCP (same port) that
// answers TLSA queries from a table; truncate makes every UDP answer TC.
type dnsServer struct {
	addr     string
	tlsa     map[string][]TLSA // owner name with trailing dot
	ad       bool
	rcode    dnsmessage.RCode
	truncate bool
	tcpSeen  *atomic.Bool // set by startDNS
	// extra, if set, writes more answers (other record types).
	extra func(b *dnsmessage.Builder, q dnsmessage.Question)
}

func startDNS(t *testing.T, s *dnsServer) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", pc.LocalAddr().String())
	if err != nil {
		pc.Close()
		t.Skipf("TCP on the UDP port: %v", err)
	}
	s.addr = pc.LocalAddr().String()
	s.tcpSeen = new(atomic.Bool)
	t.Cleanup(func() { pc.Close(); l.Close() })
	go func() {
		buf := make([]byte, 4096)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			pc.WriteTo(s.answer(buf[:n], true), from)
		}
	}()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			var lb [2]byte
			if _, err := io.ReadFull(c, lb[:]); err == nil {
				q := make([]byte, binary.BigEndian.Uint16(lb[:]))
				if _, err := io.ReadFull(c, q); err == nil {
					s.tcpSeen.Store(true)
					a := s.answer(q, false)
					binary.BigEndian.PutUint16(lb[:], uint16(len(a)))
					c.Write(append(lb[:], a...))
				}
			}
			c.Close()
		}
	}()
}

func (s *dnsServer) answer(q []byte, udp bool) []byte {
	var p dnsmessage.Parser
	h, err := p.Start(q)
	if err != nil {
		return nil
	}
	qs, err := p.AllQuestions()
	if err != nil || len(qs) != 1 {
		return nil
	}
	rh := dnsmessage.Header{ID: h.ID, Response: true, RecursionAvailable: true, RCode: s.rcode, AuthenticData: s.ad}
	recs := s.tlsa[qs[0].Name.String()]
	if udp && s.truncate {
		rh.Truncated, recs = true, nil
	}
	b := dnsmessage.NewBuilder(nil, rh)
	b.StartQuestions()
	b.Question(qs[0])
	b.StartAnswers()
	for _, r := range recs {
		data := append([]byte{r.Usage, r.Selector, r.MatchingType}, r.Data...)
		b.UnknownResource(dnsmessage.ResourceHeader{Name: qs[0].Name, Type: typeTLSA, Class: dnsmessage.ClassINET, TTL: 60},
			dnsmessage.UnknownResource{Type: typeTLSA, Data: data})
	}
	if s.extra != nil {
		s.extra(&b, qs[0])
	}
	out, _ := b.Finish()
	return out
}

func TestValidatingLookupTLSA(t *testing.T) {
	rec := TLSA{Usage: 3, Selector: 1, MatchingType: 1, Data: bytes.Repeat([]byte{0xab}, 32)}
	for name, tc := range map[string]struct {
		srv        dnsServer
		wantRecs   int
		wantSecure bool
		notFound   bool
		temporary  bool
	}{
		"secure":    {srv: dnsServer{tlsa: map[string][]TLSA{"_25._tcp.mx.example.": {rec, rec}}, ad: true}, wantRecs: 2, wantSecure: true},
		"no AD bit": {srv: dnsServer{tlsa: map[string][]TLSA{"_25._tcp.mx.example.": {rec}}}, wantRecs: 1},
		"truncated": {srv: dnsServer{tlsa: map[string][]TLSA{"_25._tcp.mx.example.": {rec}}, ad: true, truncate: true}, wantRecs: 1, wantSecure: true},
		"nodata":    {srv: dnsServer{ad: true}, wantSecure: true, notFound: true},
		"nxdomain":  {srv: dnsServer{rcode: dnsmessage.RCodeNameError}, notFound: true},
		"servfail":  {srv: dnsServer{rcode: dnsmessage.RCodeServerFailure}, temporary: true},
	} {
		t.Run(name, func(t *testing.T) {
			s := tc.srv
			startDNS(t, &s)
			v, err := NewValidating(net.DefaultResolver, s.addr)
			if err != nil {
				t.Fatal(err)
			}
			recs, secure, err := v.LookupTLSA(context.Background(), "_25._tcp.mx.example")
			switch {
			case tc.notFound:
				if !IsNotFound(err) {
					t.Fatalf("err %v, want not found", err)
				}
			case tc.temporary:
				var de *net.DNSError
				if err == nil || !asDNSError(err, &de) || !de.IsTemporary {
					t.Fatalf("err %v, want temporary", err)
				}
				return
			case err != nil:
				t.Fatal(err)
			}
			if len(recs) != tc.wantRecs || secure != tc.wantSecure {
				t.Fatalf("got %d records, secure %v; want %d, %v", len(recs), secure, tc.wantRecs, tc.wantSecure)
			}
			if tc.wantRecs > 0 && (recs[0].Usage != 3 || recs[0].Selector != 1 || recs[0].MatchingType != 1 || !bytes.Equal(recs[0].Data, rec.Data)) {
				t.Errorf("record %+v", recs[0])
			}
			if tc.srv.truncate && !s.tcpSeen.Load() {
				t.Error("truncated UDP answer not retried over TCP")
			}
		})
	}
}

func asDNSError(err error, de **net.DNSError) bool {
	d, ok := err.(*net.DNSError)
	*de = d
	return ok
}

func TestSystemNameserver(t *testing.T) {
	p := t.TempDir() + "/resolv.conf"
	if err := writeFile(p, "# comment\nsearch example\nnameserver 192.0.2.53\nnameserver 192.0.2.54\n"); err != nil {
		t.Fatal(err)
	}
	if s, err := systemNameserver(p); err != nil || s != "192.0.2.53" {
		t.Errorf("got %q, %v", s, err)
	}
	if err := writeFile(p, "search example\n"); err != nil {
		t.Fatal(err)
	}
	if _, err := systemNameserver(p); err == nil {
		t.Error("no nameserver: no error")
	}
}

// FuzzParseTLSAResponse feeds arbitrary replies to the TLSA parser: it
// must return records or an error, never panic.
func FuzzParseTLSAResponse(f *testing.F) {
	s := &dnsServer{tlsa: map[string][]TLSA{"_25._tcp.mx.example.": {{3, 1, 1, []byte{1, 2, 3}}}}, ad: true}
	q, id, _ := tlsaQuery("_25._tcp.mx.example")
	f.Add(s.answer(q, false), id)
	f.Add([]byte{0, 0, 0x81, 0x80}, uint16(0))
	f.Fuzz(func(t *testing.T, b []byte, id uint16) {
		recs, _, err := parseTLSAResponse(b, id, "x.example")
		if err == nil && len(recs) == 0 {
			t.Fatal("no error and no records")
		}
	})
}

func writeFile(p, s string) error { return os.WriteFile(p, []byte(s), 0o644) }
