package s3blobs

import (
	"bytes"
	"context"
	"testing"

	"github.com/youju/youju/internal/blob/blobtest"
)

// TestFake runs the conformance suite against the in-process fake (fast;
// the real server is TestSeaweedFS).
func TestFake(t *testing.T) {
	_, url := newFakeS3(t)
	s, err := Open(context.Background(), Config{Endpoint: url, Bucket: "mailbox", AccessKey: "a", Secret: "s",
		PathStyle: true, CreateBucket: true, Prefix: "p/"})
	if err != nil {
		t.Fatal(err)
	}
	blobtest.Run(t, s)
}

// TestFakeRangeReadsOnlyRange counts what the server sent for a range
// read of a 4 MiB object.
func TestFakeRangeReadsOnlyRange(t *testing.T) {
	f, url := newFakeS3(t)
	s, err := Open(context.Background(), Config{Endpoint: url, Bucket: "mailbox", AccessKey: "a", Secret: "s", PathStyle: true, CreateBucket: true})
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
	before := f.sent.Load()
	p := make([]byte, 500)
	if _, err := r.ReadAt(p, 2<<20); err != nil || !bytes.Equal(p, data[2<<20:2<<20+500]) {
		t.Fatalf("range read: %v", err)
	}
	if got := f.sent.Load() - before; got != 500 {
		t.Fatalf("server sent %d bytes for a 500-byte range", got)
	}
}

func TestParseEndpoint(t *testing.T) {
	for _, c := range []struct {
		in     string
		host   string
		secure bool
		ok     bool
	}{
		{"s3.example.com", "s3.example.com", true, true},
		{"https://s3.example.com:9000", "s3.example.com:9000", true, true},
		{"http://127.0.0.1:8333", "127.0.0.1:8333", false, true},
		{"http://127.0.0.1:8333/", "127.0.0.1:8333", false, true},
		{"http://h/bucket", "", false, false},
		{"ftp://h", "", false, false},
		{"", "", false, false},
	} {
		host, secure, err := parseEndpoint(c.in)
		if (err == nil) != c.ok || host != c.host || secure != c.secure {
			t.Errorf("parseEndpoint(%q) = %q, %v, %v", c.in, host, secure, err)
		}
	}
}
