package netserver

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// The PROXY protocol (HAProxy, "The PROXY protocol", versions 1 and 2)
// lets a load balancer in front of us pass on the client's address: it
// sends one header before the client's bytes. Only peers we trust may:
// anyone else could claim any address and walk past the limits, the
// login throttle and SPF.

// proxyTimeout bounds the wait for the header of a trusted peer.
const proxyTimeout = 10 * time.Second

// v2Sig starts a version 2 header (spec §2.2).
var v2Sig = []byte("\r\n\r\n\x00\r\nQUIT\n")

// maxV1 is the longest version 1 header with its CRLF (spec §2.1).
const maxV1 = 107

// maxV2Body bounds the address block and TLVs of a version 2 header. The
// spec allows 65535 bytes; addresses take at most 216 and the TLVs a
// balancer sends (ALPN, authority, SSL) a few hundred.
const maxV2Body = 2048

var errProxyHeader = errors.New("bad PROXY protocol header")

// ProxyHeader is what a PROXY header says. Source is invalid for a
// version 1 "UNKNOWN" or a version 2 LOCAL header (the balancer's own
// health check): the connection's own address then stands.
type ProxyHeader struct {
	Source netip.AddrPort
}

// ReadProxyHeader reads one version 1 or 2 header from r, and not a byte
// more: what follows (a TLS ClientHello) belongs to the protocol.
func ReadProxyHeader(r io.Reader) (ProxyHeader, error) {
	var start [5]byte
	if _, err := io.ReadFull(r, start[:]); err != nil {
		return ProxyHeader{}, err
	}
	switch {
	case string(start[:]) == "PROXY":
		return readV1(r)
	case bytes.Equal(start[:], v2Sig[:5]):
		return readV2(r)
	}
	return ProxyHeader{}, errProxyHeader
}

// readV1 reads the rest of "PROXY TCP4 192.0.2.1 198.51.100.1 5678 25\r\n"
// (spec §2.1) one byte at a time, so as not to read past it.
func readV1(r io.Reader) (ProxyHeader, error) {
	line := make([]byte, 0, maxV1)
	line = append(line, "PROXY"...)
	var b [1]byte
	for !bytes.HasSuffix(line, []byte("\r\n")) {
		if len(line) == maxV1 {
			return ProxyHeader{}, fmt.Errorf("%w: version 1 line too long", errProxyHeader)
		}
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return ProxyHeader{}, err
		}
		line = append(line, b[0])
	}
	return parseV1(string(line[:len(line)-2]))
}

func parseV1(line string) (ProxyHeader, error) {
	f := strings.Split(line, " ")
	if len(f) >= 2 && f[0] == "PROXY" && f[1] == "UNKNOWN" {
		return ProxyHeader{}, nil // the rest of the line is to be ignored
	}
	if len(f) != 6 || f[0] != "PROXY" || (f[1] != "TCP4" && f[1] != "TCP6") {
		return ProxyHeader{}, fmt.Errorf("%w: %q", errProxyHeader, line)
	}
	src, err1 := netip.ParseAddr(f[2])
	dst, err2 := netip.ParseAddr(f[3])
	sport, err3 := parsePort(f[4])
	_, err4 := parsePort(f[5])
	if err := errors.Join(err1, err2, err3, err4); err != nil {
		return ProxyHeader{}, fmt.Errorf("%w: %v", errProxyHeader, err)
	}
	if src.Zone() != "" || dst.Zone() != "" || src.Is4() != (f[1] == "TCP4") || dst.Is4() != src.Is4() {
		return ProxyHeader{}, fmt.Errorf("%w: addresses do not match %s", errProxyHeader, f[1])
	}
	return ProxyHeader{Source: netip.AddrPortFrom(src, sport)}, nil
}

// parsePort takes a decimal port without sign or leading zeros (spec
// §2.1: "0" to "65535").
func parsePort(s string) (uint16, error) {
	if s == "" || len(s) > 1 && s[0] == '0' || strings.TrimLeft(s, "0123456789") != "" {
		return 0, errors.New("bad port " + strconv.Quote(s))
	}
	n, err := strconv.ParseUint(s, 10, 16)
	return uint16(n), err
}

// readV2 reads the rest of a binary header (spec §2.2): the signature,
// version and command, family and transport, length, then the body.
func readV2(r io.Reader) (ProxyHeader, error) {
	var hdr [16]byte
	copy(hdr[:], v2Sig[:5])
	if _, err := io.ReadFull(r, hdr[5:]); err != nil {
		return ProxyHeader{}, err
	}
	if !bytes.Equal(hdr[:12], v2Sig) || hdr[12]>>4 != 2 {
		return ProxyHeader{}, fmt.Errorf("%w: version 2 signature or version", errProxyHeader)
	}
	n := int(binary.BigEndian.Uint16(hdr[14:]))
	if n > maxV2Body {
		return ProxyHeader{}, fmt.Errorf("%w: version 2 body of %d bytes", errProxyHeader, n)
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(r, body); err != nil {
		return ProxyHeader{}, err
	}
	return parseV2(hdr[12], hdr[13], body)
}

func parseV2(verCmd, famProto byte, body []byte) (ProxyHeader, error) {
	switch verCmd & 0xF {
	case 0: // LOCAL: the balancer itself; the body is to be ignored
		return ProxyHeader{}, nil
	case 1: // PROXY
	default:
		return ProxyHeader{}, fmt.Errorf("%w: version 2 command %d", errProxyHeader, verCmd&0xF)
	}
	if famProto&0xF != 1 { // only STREAM carries our protocols
		return ProxyHeader{}, nil
	}
	switch famProto >> 4 {
	case 1: // AF_INET: src, dst, sport, dport
		if len(body) < 12 {
			return ProxyHeader{}, fmt.Errorf("%w: short IPv4 block", errProxyHeader)
		}
		src := netip.AddrFrom4([4]byte(body[:4]))
		return ProxyHeader{Source: netip.AddrPortFrom(src, binary.BigEndian.Uint16(body[8:]))}, nil
	case 2: // AF_INET6
		if len(body) < 36 {
			return ProxyHeader{}, fmt.Errorf("%w: short IPv6 block", errProxyHeader)
		}
		src := netip.AddrFrom16([16]byte(body[:16])).Unmap()
		return ProxyHeader{Source: netip.AddrPortFrom(src, binary.BigEndian.Uint16(body[32:]))}, nil
	}
	return ProxyHeader{}, nil // AF_UNSPEC, AF_UNIX: keep the connection's address
}

// ProxyListener marks a listener whose trusted peers (load balancers)
// start each connection with a PROXY header. Connections from other
// addresses are taken as direct: their first bytes are the protocol's.
type ProxyListener struct {
	net.Listener
	Trusted []netip.Prefix
}

func (l *ProxyListener) trusts(a netip.Addr) bool {
	for _, p := range l.Trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// readProxy reads the header of a trusted peer's connection, with a
// deadline, and returns the client's address (the peer's own when the
// header names none).
func readProxy(nc net.Conn) (netip.AddrPort, error) {
	_ = nc.SetReadDeadline(time.Now().Add(proxyTimeout))
	h, err := ReadProxyHeader(nc)
	_ = nc.SetReadDeadline(time.Time{})
	if err != nil {
		return netip.AddrPort{}, err
	}
	return h.Source, nil
}
