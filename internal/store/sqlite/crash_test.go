package sqlite

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/youju/youju/internal/message"
	"github.com/youju/youju/internal/store"
)

const crashChildEnv = "YOUJU_SQLITE_CRASH_CHILD"

// crashMessage is message n: distinct bytes, sizes from small to ~200 KiB
// so that the kill often lands inside a blob write.
func crashMessage(n int) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "From: a@example.com\nSubject: crash %d\n\n", n)
	line := fmt.Sprintf("message %d line of text\n", n)
	for i := 0; i < (n*37)%8000; i++ {
		b.WriteString(line)
	}
	return b.Bytes()
}

// crashChild runs in a child process: it delivers messages from 16
// goroutines until killed, printing "ACK uid n" for each acknowledged one.
// Half of them use AppendMessages (two MULTIAPPENDs of two messages per
// call, as a batch of pipelined IMAP APPENDs).
func crashChild() {
	dir := os.Getenv(crashChildEnv)
	s, err := Open(context.Background(), dir, Options{SegmentSize: 1 << 20})
	if err != nil {
		fmt.Println("ERR", err)
		os.Exit(2)
	}
	a, err := s.Account(context.Background(), "crash@example.com")
	if err != nil {
		fmt.Println("ERR", err)
		os.Exit(2)
	}
	var mu sync.Mutex
	var next atomic.Int64
	var wg sync.WaitGroup
	for g := 0; g < 16; g++ {
		wg.Add(1)
		if g%2 == 1 {
			go func() {
				defer wg.Done()
				crashAppends(s, a.ID, &next, &mu)
			}()
			continue
		}
		go func() {
			defer wg.Done()
			for {
				n := int(next.Add(1))
				res, err := s.Deliver(context.Background(), store.Delivery{Data: crashMessage(n), Targets: []store.Target{{Account: a.ID}}})
				if err != nil || res[0].Err != nil {
					fmt.Println("ERR", err, res)
					os.Exit(2)
				}
				mu.Lock()
				fmt.Printf("ACK %d %d\n", res[0].UID, n)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
}

// crashAppends stores messages with AppendMessages until killed.
func crashAppends(s *Store, acct store.AccountID, next *atomic.Int64, mu *sync.Mutex) {
	for {
		var ns [4]int
		var appends []store.Append
		for i := range ns {
			ns[i] = int(next.Add(1))
			if i%2 == 0 {
				appends = append(appends, store.Append{})
			}
			g := &appends[len(appends)-1]
			g.Messages = append(g.Messages, store.AppendMessage{Data: crashMessage(ns[i])})
		}
		res, err := s.AppendMessages(context.Background(), acct, appends)
		if err != nil || res[0].Err != nil || res[1].Err != nil {
			fmt.Println("ERR", err, res)
			os.Exit(2)
		}
		mu.Lock()
		for i, n := range ns {
			fmt.Printf("ACK %d %d\n", res[i/2].UIDs[i%2], n)
		}
		mu.Unlock()
	}
}

// TestCrashSafety kills a delivering process with SIGKILL and checks that
// every acknowledged message survives byte for byte, and that recovery
// cuts the unreferenced tails.
func TestCrashSafety(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir)
	a := newAccount(t, s, "crash@example.com")
	s.Close()

	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), crashChildEnv+"="+dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	acked := map[store.UID]int{}
	sc := bufio.NewScanner(out)
	killed := false
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 3 || f[0] != "ACK" {
			t.Errorf("child: %s", sc.Text())
			continue
		}
		uid, _ := strconv.Atoi(f[1])
		n, _ := strconv.Atoi(f[2])
		acked[store.UID(uid)] = n
		if len(acked) == 150 && !killed {
			cmd.Process.Signal(syscall.SIGKILL)
			killed = true
		}
	}
	cmd.Wait()
	if len(acked) < 150 {
		t.Fatalf("child acknowledged only %d messages", len(acked))
	}
	// A torn write at the end of the newest segment and an orphan
	// segment, as a crash in the middle of a blob append leaves them.
	segs, _ := filepath.Glob(filepath.Join(dir, "blobs", "seg-*"))
	last := segs[len(segs)-1]
	f, _ := os.OpenFile(last, os.O_WRONLY|os.O_APPEND, 0)
	torn, _ := f.Stat()
	f.Write([]byte("half-written message"))
	f.Close()
	os.WriteFile(filepath.Join(dir, "blobs", "seg-999999"), []byte("orphan"), 0o600)

	s = openStore(t, dir)
	defer s.Close()
	// (Or the segment is gone: it held nothing acknowledged.)
	if fi, err := os.Stat(last); err == nil && fi.Size() > torn.Size() {
		t.Fatalf("%s: torn tail not cut (%d > %d)", last, fi.Size(), torn.Size())
	}
	in := inbox(t, s, a.ID)
	for uid, n := range acked {
		got := readAll(t, s, a.ID, in.ID, uid)
		if !bytes.Equal(got, message.NormalizeCRLF(crashMessage(n))) {
			t.Fatalf("uid %d (message %d): bytes differ after crash", uid, n)
		}
	}
	// The torn tail is cut: every framed segment ends exactly at its
	// last valid frame, and none is shorter than its last referenced blob.
	checkLogTidy(t, s)
	// The store goes on: a new delivery gets a UID above every acked one.
	r := deliver(t, s, a.ID, 0, testMessage(1), store.Flags{})
	for uid := range acked {
		if r.UID <= uid {
			t.Fatalf("new uid %d <= acked %d", r.UID, uid)
		}
	}
	t.Logf("acked %d, mailbox has %d after recovery", len(acked), inbox(t, s, a.ID).Messages)
}
