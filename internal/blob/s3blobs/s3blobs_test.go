package s3blobs_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"sync/atomic"
	"testing"

	"github.com/youju/youju/internal/blob/blobtest"
	"github.com/youju/youju/internal/blob/s3blobs"
	"github.com/youju/youju/internal/testutil/s3test"
)

func TestMain(m *testing.M) {
	code := m.Run()
	s3test.Stop()
	os.Exit(code)
}

var ctx = context.Background()

// countingTransport counts the response body bytes received.
type countingTransport struct{ n atomic.Int64 }

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := http.DefaultTransport.RoundTrip(r)
	if err == nil {
		resp.Body = &countingBody{ReadCloser: resp.Body, n: &c.n}
	}
	return resp, err
}

type countingBody struct {
	io.ReadCloser
	n *atomic.Int64
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.n.Add(int64(n))
	return n, err
}

// TestSeaweedFS runs the blob conformance suite against a real S3 server.
func TestSeaweedFS(t *testing.T) {
	cfg := s3test.Config(t)
	s, err := s3blobs.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	blobtest.Run(t, s)
}

// TestSeaweedFSRangeReadsOnlyRange checks on the wire that a range read of
// a large object receives its range, not the object (a partial FETCH,
// RFC 9051 §6.4.5, of a big attachment).
func TestSeaweedFSRangeReadsOnlyRange(t *testing.T) {
	cfg := s3test.Config(t)
	ct := new(countingTransport)
	cfg.Transport = ct
	s, err := s3blobs.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	blobtest.RangeOnly(t, s, func() int64 { return ct.n.Load() }, 63<<10)
}

func TestWrongCredentialsAndBucket(t *testing.T) {
	cfg := s3test.Config(t)
	bad := cfg
	bad.Secret = "wrong"
	if _, err := s3blobs.Open(ctx, bad); err == nil {
		t.Error("Open with a wrong secret succeeded")
	}
	bad = cfg
	bad.Bucket = "no-such-bucket-youju"
	if _, err := s3blobs.Open(ctx, bad); err == nil {
		t.Error("Open of a missing bucket succeeded")
	}
}

// TestFake runs the conformance suite against the in-process fake (fast;
// the real server is TestSeaweedFS).
func TestFake(t *testing.T) {
	_, url := s3test.NewFake(t)
	s, err := s3blobs.Open(context.Background(), s3blobs.Config{Endpoint: url, Bucket: "mailbox", AccessKey: "a", Secret: "s",
		PathStyle: true, CreateBucket: true, Prefix: "p/"})
	if err != nil {
		t.Fatal(err)
	}
	blobtest.Run(t, s)
}

// TestFakeRangeReadsOnlyRange counts what the server sent for a range
// read of a 4 MiB object.
func TestFakeRangeReadsOnlyRange(t *testing.T) {
	f, url := s3test.NewFake(t)
	s, err := s3blobs.Open(context.Background(), s3blobs.Config{Endpoint: url, Bucket: "mailbox", AccessKey: "a", Secret: "s", PathStyle: true, CreateBucket: true})
	if err != nil {
		t.Fatal(err)
	}
	data := blobtest.Data(4<<20, 3)
	id, err := s.Put(context.Background(), bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	r, _ := s.Open(context.Background(), id, int64(len(data)))
	defer r.Close()
	before := f.Sent.Load()
	p := make([]byte, 500)
	if _, err := r.ReadAt(p, 2<<20); err != nil || !bytes.Equal(p, data[2<<20:2<<20+500]) {
		t.Fatalf("range read: %v", err)
	}
	if got := f.Sent.Load() - before; got != 500 {
		t.Fatalf("server sent %d bytes for a 500-byte range", got)
	}
}

// TestFakeSequentialReadAtRequests checks that walking an object with
// small ReadAt steps (io.SectionReader under io.Copy, as IMAP FETCH sends
// a literal) costs a request per MiB, and that reading a range twice
// costs one.
func TestFakeSequentialReadAtRequests(t *testing.T) {
	f, url := s3test.NewFake(t)
	s, err := s3blobs.Open(ctx, s3blobs.Config{Endpoint: url, Bucket: "mailbox", AccessKey: "a", Secret: "s", PathStyle: true, CreateBucket: true})
	if err != nil {
		t.Fatal(err)
	}
	data := blobtest.Data(3<<20+100, 4)
	id, err := s.Put(ctx, bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	r, _ := s.Open(ctx, id, int64(len(data)))
	defer r.Close()
	g0 := f.Gets.Load()
	var out bytes.Buffer
	if _, err := io.Copy(&out, io.NewSectionReader(r, 100, int64(len(data))-100)); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out.Bytes(), data[100:]) {
		t.Fatal("sequential read differs")
	}
	if gets := f.Gets.Load() - g0; gets > 5 {
		t.Fatalf("%d GETs to walk 3 MiB in 32 KiB steps", gets)
	}
	g0 = f.Gets.Load()
	p := make([]byte, 700)
	r.ReadAt(p, 12345)
	r.ReadAt(p, 12345)
	if gets := f.Gets.Load() - g0; gets != 1 {
		t.Fatalf("%d GETs to read one range twice", gets)
	}
}
