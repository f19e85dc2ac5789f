package inflate

import (
	"bytes"
	"compress/flate"
	"io"
	"math/rand"
	"os"
	"testing"
)

// TestPythonZlibStream decodes a stream from zlib (python3) with partial,
// sync and no flushes, dynamic and stored blocks, ended by Z_FINISH.
func TestPythonZlibStream(t *testing.T) {
	in, err := os.ReadFile("testdata/mixed.bin")
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile("testdata/mixed.txt")
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(NewReader(bytes.NewReader(in)))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("decoded %d bytes, want %d", len(got), len(want))
	}
}

// TestGoFlateRoundTrip decodes what compress/flate writes at every level,
// with sync flushes between writes as an IMAP client does.
func TestGoFlateRoundTrip(t *testing.T) {
	rnd := rand.New(rand.NewSource(1))
	var want bytes.Buffer
	for i := 0; i < 3000; i++ {
		switch rnd.Intn(3) {
		case 0:
			want.WriteString("a1 UID FETCH 1:* (FLAGS ENVELOPE)\r\n")
		case 1:
			b := make([]byte, rnd.Intn(300))
			rnd.Read(b)
			want.Write(b)
		default:
			want.Write(bytes.Repeat([]byte{byte(rnd.Intn(256))}, rnd.Intn(600)))
		}
	}
	for level := flate.HuffmanOnly; level <= flate.BestCompression; level++ {
		var z bytes.Buffer
		zw, _ := flate.NewWriter(&z, level)
		data := want.Bytes()
		for len(data) > 0 {
			n := min(len(data), 1+rnd.Intn(5000))
			zw.Write(data[:n])
			zw.Flush()
			data = data[n:]
		}
		zw.Close()
		got, err := io.ReadAll(NewReader(&z))
		if err != nil || !bytes.Equal(got, want.Bytes()) {
			t.Fatalf("level %d: %v, %d bytes, want %d", level, err, len(got), want.Len())
		}
	}
}

// later is a source with some bytes now and the rest only later (after
// the server has answered): it records whether the reader asked for the
// later bytes.
type later struct {
	now, rest []byte
	waited    bool
}

func (l *later) Read(p []byte) (int, error) {
	if len(l.now) == 0 {
		if len(l.rest) == 0 {
			return 0, io.EOF
		}
		l.waited = true
		l.now, l.rest = l.rest, nil
	}
	n := copy(p, l.now)
	l.now = l.now[n:]
	return n, nil
}

// TestPartialFlushNoStall is the isync case: a command ended by
// Z_PARTIAL_FLUSH must be handed out whole without reading further input
// (which the client sends only after the server answers).
func TestPartialFlushNoStall(t *testing.T) {
	seg1, err := os.ReadFile("testdata/partial1.bin")
	if err != nil {
		t.Fatal(err)
	}
	seg2, err := os.ReadFile("testdata/partial2.bin")
	if err != nil {
		t.Fatal(err)
	}
	src := &later{now: seg1, rest: seg2}
	r := NewReader(src)
	readLine := func() string {
		var got []byte
		buf := make([]byte, 4096)
		for !bytes.HasSuffix(got, []byte("\r\n")) {
			n, err := r.Read(buf)
			got = append(got, buf[:n]...)
			if err != nil {
				t.Fatalf("after %q: %v", got, err)
			}
		}
		return string(got)
	}
	if got := readLine(); got != "a1 NOOP\r\n" || src.waited {
		t.Fatalf("got %q; waited for later input: %v", got, src.waited)
	}
	if got := readLine(); got != "a2 SELECT INBOX\r\n" {
		t.Fatalf("got %q", got)
	}
}

func TestCorrupt(t *testing.T) {
	for _, in := range [][]byte{{0x07}, {0x01, 0x05, 0x00, 0x05, 0x00}, {0xff, 0xff, 0xff, 0xff}, {0x04, 0x80, 0x49, 0x92, 0x24, 0x49, 0x92, 0x24, 0x71, 0xff, 0x7f}} {
		if _, err := io.ReadAll(NewReader(bytes.NewReader(in))); err == nil {
			t.Errorf("%x: no error", in)
		}
	}
}

// FuzzReader: any input ends in data or an error, never a panic; what
// compress/flate decodes without error, this reader decodes the same.
func FuzzReader(f *testing.F) {
	for _, name := range []string{"testdata/partial1.bin", "testdata/mixed.bin"} {
		if b, err := os.ReadFile(name); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte{0x03, 0x00})
	f.Fuzz(func(t *testing.T, in []byte) {
		got, err := io.ReadAll(io.LimitReader(NewReader(bytes.NewReader(in)), 1<<20))
		want, werr := io.ReadAll(io.LimitReader(flate.NewReader(bytes.NewReader(in)), 1<<20))
		if werr == nil && (err != nil || !bytes.Equal(got, want)) {
			t.Fatalf("got %d bytes, %v; compress/flate %d bytes", len(got), err, len(want))
		}
	})
}

func BenchmarkReader(b *testing.B) {
	in, err := os.ReadFile("testdata/mixed.bin")
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(104205)
	for b.Loop() {
		io.Copy(io.Discard, NewReader(bytes.NewReader(in)))
	}
}
