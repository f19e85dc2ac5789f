package netserver

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"
)

// TestWaitReadableAndReadNoWait: WaitReadable returns when input arrives
// without taking it, ends at the read deadline, and ReadNoWait makes a
// read fail at once with a temporary ErrWouldBlock that leaves the
// connection usable.
func TestWaitReadableAndReadNoWait(t *testing.T) {
	type result struct {
		step string
		err  error
	}
	results := make(chan result, 8)
	s := &Server{Proto: "test", Logger: slog.New(slog.DiscardHandler)}
	s.Handler = func(c *Conn) {
		buf := make([]byte, 16)
		_, err := c.ReadNoWait(func() (int, error) { return c.Read(buf) })
		results <- result{"nowait", err}
		c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		results <- result{"deadline", c.WaitReadable()}
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		io.WriteString(c, "go\n")
		results <- result{"readable", c.WaitReadable()}
		n, err := io.ReadFull(c, buf[:5])
		if err == nil && string(buf[:n]) != "hello" {
			err = errors.New("read " + string(buf[:n]))
		}
		results <- result{"read", err}
	}
	l := listen(t)
	go s.Serve(l, false)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s.Shutdown(ctx)
	})
	conn, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	r := <-results
	var ne net.Error
	if !errors.Is(r.err, ErrWouldBlock) || !errors.As(r.err, &ne) || !ne.Timeout() {
		t.Fatalf("ReadNoWait: %v", r.err)
	}
	if r = <-results; !errors.As(r.err, &ne) || !ne.Timeout() {
		t.Fatalf("WaitReadable past the deadline: %v", r.err)
	}
	buf := make([]byte, 3)
	if _, err := io.ReadFull(conn, buf); err != nil {
		t.Fatal(err)
	}
	conn.Write([]byte("hello"))
	for _, step := range []string{"readable", "read"} {
		if r = <-results; r.step != step || r.err != nil {
			t.Fatalf("%s: %v", r.step, r.err)
		}
	}
}
