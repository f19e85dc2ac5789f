package blob

import (
	"bytes"
	"errors"
	"os"
	"sync"
	"testing"
)

// TestStartSync runs StartSync's two ways (Linux AIO, a goroutine): an
// fsync in flight while more is appended, one fsync only when there is
// something to sync, every record found again after a reopen, and the
// failed log refusing.
func TestStartSync(t *testing.T) {
	for _, mode := range []string{"aio", "goroutine"} {
		t.Run(mode, func(t *testing.T) {
			dir := t.TempDir()
			s, err := Open(dir, Options{SegmentSize: 4 << 10})
			if err != nil {
				t.Fatal(err)
			}
			if mode == "aio" {
				a := newAIO()
				if a == nil {
					t.Skip("the kernel refuses AIO here")
				}
				a.close()
			}
			s.noAIO.Store(mode == "goroutine")
			s.Recover(nil, 0)
			var want []byte
			for i := range 20 {
				payload := []byte{byte(i)}
				refs, regions, err := s.AppendBatch([][]byte{bytes.Repeat([]byte{'a' + byte(i%26)}, 700)})
				if err != nil {
					t.Fatal(err)
				}
				if _, err := s.AppendRecord(regions, payload); err != nil {
					t.Fatal(err)
				}
				want = append(want, payload...)
				syncs := s.Syncs()
				wait := s.StartSync()
				// Appends go on while the fsync is in flight.
				var wg sync.WaitGroup
				wg.Go(func() {
					more, _, err := s.AppendBatch([][]byte{[]byte("meanwhile")})
					if err != nil {
						t.Error(err)
						return
					}
					s.Unpin(more)
				})
				if err := wait(); err != nil {
					t.Fatalf("batch %d: %v", i, err)
				}
				wg.Wait()
				if got := s.Syncs(); got != syncs+1 {
					t.Fatalf("batch %d: %d fsyncs, want 1", i, got-syncs)
				}
				s.Unpin(refs)
			}
			if err := s.StartSync()(); err != nil {
				t.Fatal(err)
			}
			syncs := s.Syncs()
			if err := s.StartSync()(); err != nil || s.Syncs() != syncs {
				t.Fatalf("nothing to sync: %v, %d fsyncs", err, s.Syncs()-syncs)
			}
			if mode == "aio" && (s.aio == nil || s.noAIO.Load()) {
				t.Fatal("AIO not used")
			}
			s.Fail(errors.New("disk on fire"))
			if err := s.StartSync()(); !errors.Is(err, ErrFailed) {
				t.Fatalf("StartSync after Fail: %v", err)
			}
			s.Close()
			s, err = Open(dir, Options{SegmentSize: 4 << 10})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if got, _ := scanPayloads(t, s, Pos{}); !bytes.Equal(got, want) {
				t.Fatalf("records after reopen: %v, want %v", got, want)
			}
		})
	}
}

// TestAIORefused: a file the kernel cannot fdatasync through AIO is
// refused at submission (StartSync then uses a goroutine), and the
// context stays usable.
func TestAIORefused(t *testing.T) {
	a := newAIO()
	if a == nil {
		t.Skip("no AIO here")
	}
	defer a.close()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	if wait, err := a.start(r); err == nil {
		err = wait()
		t.Fatalf("fdatasync of a pipe submitted (wait: %v)", err)
	}
	f, err := os.CreateTemp(t.TempDir(), "x")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	f.Write([]byte("data"))
	wait, err := a.start(f)
	if err != nil {
		t.Fatal(err)
	}
	if err := wait(); err != nil {
		t.Fatal(err)
	}
}
