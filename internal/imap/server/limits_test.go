package server

import (
	"bufio"
	"net"
	"strings"
	"testing"
	"time"
)

// TestPerAddressLimit checks that one address cannot hold more than
// MaxPerIP connections, and that a slot frees when a session ends.
func TestPerAddressLimit(t *testing.T) {
	ts := startServer(t, func(s *Server) { s.MaxPerIP = 2 })
	a, b := dialRaw(t, ts.addr), dialRaw(t, ts.addr)
	greeting := func() string {
		c, err := net.Dial("tcp", ts.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		line, _ := bufio.NewReader(c).ReadString('\n')
		return line
	}
	if g := greeting(); !strings.HasPrefix(g, "* BYE too many connections from your address") {
		t.Fatalf("third connection got %q", g)
	}
	a.send("a LOGOUT\r\n")
	a.conn.Close()
	defer b.conn.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		g := greeting()
		if strings.HasPrefix(g, "* OK") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("slot not freed after LOGOUT: %q", g)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
