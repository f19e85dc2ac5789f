// Package blobtest is a conformance suite for store.Blobs backends (files,
// S3): every backend's tests call Run.
package blobtest

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/youju/youju/internal/store"
)

// Run runs the suite on b.
func Run(t *testing.T, b store.Blobs) {
	t.Run("PutOpenRead", func(t *testing.T) { testPutOpenRead(t, b) })
	t.Run("ReadAtRanges", func(t *testing.T) { testReadAtRanges(t, b) })
	t.Run("UnknownSize", func(t *testing.T) { testUnknownSize(t, b) })
	t.Run("Delete", func(t *testing.T) { testDelete(t, b) })
	t.Run("Concurrent", func(t *testing.T) { testConcurrent(t, b) })
	t.Run("ShortPut", func(t *testing.T) { testShortPut(t, b) })
}

var ctx = context.Background()

// Data returns n bytes of a message-like pattern, different for each seed.
func Data(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, 7))
	b := make([]byte, n)
	for i := range b {
		b[i] = "abcdefghijklmnopqrstuvwxyz0123456789 \r\n"[r.IntN(39)]
	}
	return b
}

func put(t *testing.T, b store.Blobs, data []byte) string {
	t.Helper()
	id, err := b.Put(ctx, bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	if id == "" || len(id) > 200 {
		t.Fatalf("Put returned id %q", id)
	}
	return id
}

func testPutOpenRead(t *testing.T, b store.Blobs) {
	for _, n := range []int{1, 100, 10 << 10, 300 << 10, 1<<20 + 3} {
		data := Data(n, uint64(n))
		id := put(t, b, data)
		r, err := b.Open(ctx, id, int64(n))
		if err != nil {
			t.Fatal(err)
		}
		if r.Size() != int64(n) {
			t.Fatalf("Size %d, want %d", r.Size(), n)
		}
		got, err := io.ReadAll(r)
		r.Close()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, data) {
			t.Fatalf("%d bytes: read back %d bytes, different", n, len(got))
		}
	}
}

func testReadAtRanges(t *testing.T, b store.Blobs) {
	const n = 700 << 10
	data := Data(n, 42)
	id := put(t, b, data)
	r, err := b.Open(ctx, id, n)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	for _, c := range []struct{ off, len int }{{0, 10}, {5, 1}, {n - 7, 7}, {300 << 10, 200 << 10}, {123456, 65536}} {
		p := make([]byte, c.len)
		k, err := r.ReadAt(p, int64(c.off))
		if err != nil && !(errors.Is(err, io.EOF) && k == c.len) {
			t.Fatalf("ReadAt(%d, %d): %v", c.off, c.len, err)
		}
		if k != c.len || !bytes.Equal(p, data[c.off:c.off+c.len]) {
			t.Fatalf("ReadAt(%d, %d): got %d bytes, different", c.off, c.len, k)
		}
	}
	// Past the end: a short read with io.EOF.
	p := make([]byte, 20)
	k, err := r.ReadAt(p, n-5)
	if k != 5 || !errors.Is(err, io.EOF) || !bytes.Equal(p[:5], data[n-5:]) {
		t.Fatalf("ReadAt over the end: %d, %v", k, err)
	}
	if _, err := r.ReadAt(p, n); !errors.Is(err, io.EOF) {
		t.Fatalf("ReadAt at the end: %v", err)
	}
	if _, err := r.ReadAt(p, -1); err == nil {
		t.Fatal("ReadAt at -1 succeeded")
	}
}

func testUnknownSize(t *testing.T, b store.Blobs) {
	data := Data(5000, 5)
	id := put(t, b, data)
	r, err := b.Open(ctx, id, -1)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if r.Size() != 5000 {
		t.Fatalf("Size %d", r.Size())
	}
}

func testDelete(t *testing.T, b store.Blobs) {
	id := put(t, b, Data(1000, 9))
	if err := b.Delete(ctx, id); err != nil {
		t.Fatal(err)
	}
	// Open may succeed lazily (S3 asks nothing until a read); the read
	// must then fail with ErrNotFound.
	r, err := b.Open(ctx, id, 1000)
	if err == nil {
		_, err = io.ReadAll(r)
		r.Close()
	}
	if !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("reading a deleted blob: %v, want ErrNotFound", err)
	}
	if err := b.Delete(ctx, id); err != nil {
		t.Fatalf("deleting twice: %v", err)
	}
}

func testConcurrent(t *testing.T, b store.Blobs) {
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for i := range 16 {
		wg.Go(func() {
			data := Data(8000+i, uint64(100+i))
			id, err := b.Put(ctx, bytes.NewReader(data), int64(len(data)))
			if err != nil {
				errs <- err
				return
			}
			r, err := b.Open(ctx, id, int64(len(data)))
			if err != nil {
				errs <- err
				return
			}
			got, err := io.ReadAll(r)
			r.Close()
			if err != nil || !bytes.Equal(got, data) {
				errs <- errors.Join(err, errors.New("concurrent read back differs"))
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// testShortPut gives Put fewer bytes than announced: it must fail, not
// store a truncated message.
func testShortPut(t *testing.T, b store.Blobs) {
	if _, err := b.Put(ctx, bytes.NewReader(make([]byte, 10)), 20); err == nil {
		t.Fatal("Put of 10 bytes announced as 20 succeeded")
	}
}

// RangeOnly checks that an isolated 1000-byte ReadAt of a 4 MiB blob
// receives its range, not the blob nor the prefix before it (a partial
// FETCH, RFC 9051 §6.4.5, of a big attachment): received counts the
// bytes the backend got from its server, and a read may cost at most
// slack bytes besides its own (headers, framing).
func RangeOnly(t *testing.T, b store.Blobs, received func() int64, slack int64) {
	t.Helper()
	data := Data(4<<20, 1)
	id := put(t, b, data)
	r, err := b.Open(ctx, id, int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	for _, off := range []int64{3 << 20, 256<<10 - 500} {
		before := received()
		p := make([]byte, 1000)
		if _, err := r.ReadAt(p, off); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(p, data[off:off+1000]) {
			t.Fatalf("range read at %d differs", off)
		}
		if got := received() - before; got < 1000 || got > 1000+slack {
			t.Fatalf("a 1000-byte range read at %d received %d bytes", off, got)
		}
	}
}
