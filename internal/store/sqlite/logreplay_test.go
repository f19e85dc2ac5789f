package sqlite

import (
	"bytes"
	"context"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"testing"

	"github.com/youju/youju/internal/blob"
	"github.com/youju/youju/internal/message"
	"github.com/youju/youju/internal/store"
)

// checkLogTidy checks that every framed segment of s ends at its last
// valid frame and covers every blob the index references.
func checkLogTidy(t *testing.T, s *Store) {
	t.Helper()
	rep, err := s.blobs.Scan(blob.Pos{}, func(blob.Pos, []byte) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	for seg, end := range rep.ValidEnd {
		if rep.Size[seg] != end {
			t.Fatalf("segment %d: size %d, valid frames end at %d", seg, rep.Size[seg], end)
		}
	}
	rows, err := s.rdb.Query(`SELECT segment, MAX(off+length) FROM blobs GROUP BY segment`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var seg uint32
		var end int64
		rows.Scan(&seg, &end)
		fi, err := os.Stat(s.blobs.Path(seg))
		if err != nil || fi.Size() < end {
			t.Fatalf("segment %d: %v, shorter than its last blob (%d)", seg, err, end)
		}
	}
}

// logRecord is what a test needs of one log record: where it ends and
// the UIDs it adds.
type logRecord struct {
	end  blob.Pos
	uids []store.UID
}

// readLog lists the records of the blob log in dir.
func readLog(t *testing.T, dir string) []logRecord {
	t.Helper()
	bs, err := blob.Open(dir, blob.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer bs.Close()
	var recs []logRecord
	_, err = bs.Scan(blob.Pos{}, func(end blob.Pos, payload []byte) error {
		r := &recReader{b: payload[1:]}
		b := newBatchTx(newDeliveryState())
		for len(r.b) > 0 && r.err == nil {
			r.decodeChunk(b)
		}
		rec := logRecord{end: end}
		for _, m := range b.msgs {
			rec.uids = append(rec.uids, m.m.UID)
		}
		recs = append(recs, rec)
		return r.err
	})
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

func copyDir(t *testing.T, from, to string) {
	t.Helper()
	if err := os.CopyFS(to, os.DirFS(from)); err != nil {
		t.Fatal(err)
	}
}

// TestLogReplay simulates what a power failure can leave after NORMAL
// commits: the index as it was before the last batches (their WAL frames
// never reached the disk) and the blob log with their records, whole,
// cut at a random point (a torn record or region), or with a region's
// bytes corrupted (the record reached the disk, the blob pages did not).
// Every message whose record reached the disk whole must come back with
// its UID and bytes; nothing may come back with other bytes.
func TestLogReplay(t *testing.T) {
	ctx := context.Background()
	base := t.TempDir()
	opts := Options{SegmentSize: 256 << 10}
	s, err := Open(ctx, base, opts)
	if err != nil {
		t.Fatal(err)
	}
	a := newAccount(t, s, "replay@example.com")
	want := map[store.UID]int{}
	for n := range 10 {
		want[deliver(t, s, a.ID, 0, crashMessage(n), store.Flags{}).UID] = n
	}
	s.Close() // the index as the power failure leaves it
	snap := t.TempDir()
	for _, f := range []string{"index.db"} {
		b, err := os.ReadFile(filepath.Join(base, f))
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(snap, f), b, 0o600)
	}

	if s, err = Open(ctx, base, opts); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 25 {
				n := 100 + g*100 + i
				var uid store.UID
				if i%3 == 0 {
					res, err := s.AppendMessages(ctx, a.ID, []store.Append{{Messages: []store.AppendMessage{{Data: crashMessage(n), Flags: store.Flags{Keywords: []string{"k1"}}}}}})
					if err != nil || res[0].Err != nil {
						t.Error(err, res)
						return
					}
					uid = res[0].UIDs[0]
				} else {
					res, err := s.Deliver(ctx, store.Delivery{Data: crashMessage(n), Targets: []store.Target{{Account: a.ID}}})
					if err != nil || res[0].Err != nil {
						t.Error(err, res)
						return
					}
					uid = res[0].UID
				}
				mu.Lock()
				want[uid] = n
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	s.Close()
	recs := readLog(t, filepath.Join(base, "blobs"))
	if len(recs) < 5 {
		t.Fatalf("only %d log records", len(recs))
	}

	// The records of the first deliveries are in the snapshot's index
	// (durable): only what came after it is cut.
	pre := 0
	for pre < len(recs) && want[recs[pre].uids[0]] < 100 {
		pre++
	}
	rng := rand.New(rand.NewPCG(1, uint64(len(recs))))
	type scenario struct {
		name string
		harm func(blobs string) []store.UID // returns the UIDs that must survive
	}
	scenarios := []scenario{
		{"intact", func(string) []store.UID { return sortedUIDs(want) }},
	}
	for i := range 6 {
		scenarios = append(scenarios, scenario{"cut", func(blobs string) []store.UID {
			// Cut the segment of a random record somewhere inside it or
			// the frames before it: that record and the later ones are lost.
			k := pre + rng.IntN(len(recs)-pre)
			start := int64(8)
			if k > 0 && recs[k-1].end.Segment == recs[k].end.Segment {
				start = recs[k-1].end.Offset
			}
			cut := start + rng.Int64N(recs[k].end.Offset-start)
			if i == 0 {
				cut = recs[k].end.Offset - 1 // the record's last byte torn
			}
			truncateSegments(t, blobs, recs[k].end.Segment, cut)
			return survivors(want, recs[:k])
		}})
	}
	scenarios = append(scenarios, scenario{"corrupt-region", func(blobs string) []store.UID {
		// The record reached the disk, a page of its blobs did not: in
		// the newest segment (the older ones were synced when the log
		// rolled past them).
		lastSeg := recs[len(recs)-1].end.Segment
		k := len(recs) - 1
		for k > pre && recs[k-1].end.Segment == lastSeg && blobRefOf(t, blobs, recs[k-1].uids[0]).Segment == lastSeg {
			k--
		}
		k += (len(recs) - k) / 2
		corruptBlobOf(t, blobs, recs[k].uids[0])
		return survivors(want, recs[:k])
	}})
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			dir := t.TempDir()
			copyDir(t, snap, dir)
			copyDir(t, filepath.Join(base, "blobs"), filepath.Join(dir, "blobs"))
			must := sc.harm(filepath.Join(dir, "blobs"))
			s2, err := Open(ctx, dir, opts)
			if err != nil {
				t.Fatal(err)
			}
			defer s2.Close()
			checkReplayed(t, s2, a.ID, want, must)
			checkLogTidy(t, s2)
			// The store goes on after replay, above every UID it had.
			r := deliver(t, s2, a.ID, 0, testMessage(1), store.Flags{})
			if uids := sortedUIDs(want); r.UID <= uids[len(uids)-1] && len(must) == len(want) {
				t.Fatalf("new uid %d not above %d", r.UID, uids[len(uids)-1])
			}
		})
	}
}

func sortedUIDs(m map[store.UID]int) []store.UID {
	var uids []store.UID
	for u := range m {
		uids = append(uids, u)
	}
	sort.Slice(uids, func(i, j int) bool { return uids[i] < uids[j] })
	return uids
}

// survivors are the messages delivered before the log (the index snapshot
// has them) and those of the records kept.
func survivors(want map[store.UID]int, kept []logRecord) []store.UID {
	inLog := map[store.UID]bool{}
	var out []store.UID
	for _, r := range kept {
		for _, u := range r.uids {
			inLog[u] = true
			out = append(out, u)
		}
	}
	for u, n := range want {
		if n < 100 && !inLog[u] {
			out = append(out, u)
		}
	}
	return out
}

// checkReplayed checks that every UID of must is in INBOX with its bytes,
// and that every message there has the bytes of the message acknowledged
// with its UID.
func checkReplayed(t *testing.T, s *Store, acct store.AccountID, want map[store.UID]int, must []store.UID) {
	t.Helper()
	in := inbox(t, s, acct)
	present := map[store.UID]bool{}
	err := s.ListMessages(context.Background(), acct, in.ID, store.ListOptions{}, func(m *store.Message) error {
		present[m.UID] = true
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range must {
		if !present[u] {
			t.Fatalf("acknowledged uid %d lost (%d present, %d expected)", u, len(present), len(must))
		}
	}
	for u := range present {
		n, ok := want[u]
		if !ok {
			t.Fatalf("uid %d was never acknowledged", u)
		}
		if got := readAll(t, s, acct, in.ID, u); !bytes.Equal(got, message.NormalizeCRLF(crashMessage(n))) {
			t.Fatalf("uid %d: bytes differ after replay", u)
		}
	}
	if in.Messages != len(present) {
		t.Fatalf("mailbox counts %d messages, lists %d", in.Messages, len(present))
	}
	t.Logf("%d present, %d required", len(present), len(must))
}

// truncateSegments cuts segment seg at off and removes every later one.
func truncateSegments(t *testing.T, dir string, seg uint32, off int64) {
	t.Helper()
	if err := os.Truncate(blob.SegmentPath(dir, seg), off); err != nil {
		t.Fatal(err)
	}
	for i := seg + 1; ; i++ {
		if err := os.Remove(blob.SegmentPath(dir, i)); err != nil {
			return
		}
	}
}

// corruptBlobOf flips a byte in the middle of the blob of uid.
func corruptBlobOf(t *testing.T, dir string, uid store.UID) {
	t.Helper()
	ref := blobRefOf(t, dir, uid)
	f, err := os.OpenFile(blob.SegmentPath(dir, ref.Segment), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var b [1]byte
	f.ReadAt(b[:], ref.Offset+ref.Length/2)
	b[0] ^= 0x55
	f.WriteAt(b[:], ref.Offset+ref.Length/2)
}

// blobRefOf finds the blob of uid from the log records in dir.
func blobRefOf(t *testing.T, dir string, uid store.UID) blob.Ref {
	t.Helper()
	bs, err := blob.Open(dir, blob.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer bs.Close()
	var ref blob.Ref
	bs.Scan(blob.Pos{}, func(_ blob.Pos, payload []byte) error {
		r := &recReader{b: payload[1:]}
		b := newBatchTx(newDeliveryState())
		for len(r.b) > 0 && r.err == nil {
			r.decodeChunk(b)
		}
		for _, m := range b.msgs {
			if m.m.UID != uid {
				continue
			}
			for _, x := range b.blobs {
				if x.id == m.blob {
					ref = blob.Ref{Segment: x.segment, Offset: x.off, Length: x.n}
				}
			}
		}
		return nil
	})
	if ref.Length == 0 {
		t.Fatalf("uid %d not in the log", uid)
	}
	return ref
}
