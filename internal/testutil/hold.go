package testutil

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"
)

// holdEnv makes a test binary a connection holder (see HoldConnections).
const holdEnv = "YOUJU_TEST_HOLD"

// HoldMain is called from a test package's init: in the holder child it
// runs the holder and exits, elsewhere it returns at once.
func HoldMain() {
	spec := os.Getenv(holdEnv)
	if spec == "" {
		return
	}
	var addr string
	var n int
	var useTLS bool
	if _, err := fmt.Sscanf(spec, "%s %d %t", &addr, &n, &useTLS); err != nil {
		fmt.Println("bad spec:", err)
		os.Exit(2)
	}
	conns := make([]net.Conn, 0, n)
	for range n {
		var c net.Conn
		var err error
		if useTLS {
			c, err = tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true})
		} else {
			c, err = net.Dial("tcp", addr)
		}
		if err == nil {
			c.SetReadDeadline(time.Now().Add(30 * time.Second))
			_, err = bufio.NewReader(c).ReadString('\n') // the greeting
		}
		if err != nil {
			fmt.Println("dial:", err)
			os.Exit(1)
		}
		conns = append(conns, c)
	}
	fmt.Println("ready")
	io.Copy(io.Discard, os.Stdin) // hold until the parent closes stdin
	os.Exit(0)
}

// HoldConnections opens n idle connections to addr (over TLS if useTLS)
// from a child process, so that their client side does not count in this
// process's memory, and waits for every greeting. The returned function
// closes them.
func HoldConnections(tb testing.TB, addr string, n int, useTLS bool) (release func()) {
	tb.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), holdEnv+"="+addr+" "+strconv.Itoa(n)+" "+strconv.FormatBool(useTLS))
	stdin, err := cmd.StdinPipe()
	if err != nil {
		tb.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	line, _ := bufio.NewReader(out).ReadString('\n')
	if line != "ready\n" {
		stdin.Close()
		cmd.Wait()
		tb.Fatalf("connection holder: %q", line)
	}
	return func() {
		stdin.Close()
		cmd.Wait()
	}
}
