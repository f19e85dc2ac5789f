package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/youju/youju/internal/message"
	"github.com/youju/youju/internal/store"
)

// Deliveries and APPENDs are the hot write path. They go through a
// batcher: a few committer goroutines each take every request waiting (up
// to maxBatch) and store them in one transaction, so that concurrent
// deliveries share a commit (one WAL flush) and take each mailbox's lock
// once per batch rather than once per message (the lock is held until the
// commit, so one lock per message would make one INBOX one commit at a
// time). A batch costs a fixed number of statements, sent in one round
// trip: rows go in as arrays (unnest).
//
// A request is all or none per unit (a delivery target, or an Append);
// what fails for a unit (quota, no such mailbox) is its result. An SQL
// error fails the batch; its requests are then retried one by one, so
// that one bad request cannot fail the others.

// maxBatch bounds how many requests one transaction takes; committers is
// how many transactions may be in flight at once.
const (
	maxBatch   = 256
	committers = 3
)

// pblob is a message body to store.
type pblob struct {
	data    []byte
	info    []byte
	ext     string // id in the external store.Blobs ("" = chunk rows)
	refs    int    // units that stored it
	planned int    // units that refer to it
	id      int64  // the blobs row's, given before the batch (putBlobs)
}

// unitMsg is one message of a unit.
type unitMsg struct {
	blob  int // index in the request's blobs
	flags store.Flags
	idate time.Time
	size  int64
}

// unit is what succeeds or fails as a whole: one delivery target, or one
// Append.
type unit struct {
	acct store.AccountID
	mbox store.MailboxID // 0 = INBOX
	msgs []unitMsg

	mailbox     store.MailboxID
	uidValidity uint32
	uids        []store.UID
	err         error
}

// dreq is one Deliver or AppendMessages call.
type dreq struct {
	ctx   context.Context
	now   time.Time
	blobs []*pblob
	units []*unit
	done  chan error
}

type batcher struct {
	s    *Store
	in   chan *dreq
	quit chan struct{}
	wg   sync.WaitGroup
	// mu orders submit and stop: no request is queued after the
	// committers made their last pass (it would never be answered).
	mu     sync.RWMutex
	closed bool
	// Statistics: transactions committed and requests in them.
	batches, batched atomic.Int64
}

func newBatcher(s *Store) *batcher {
	b := &batcher{s: s, in: make(chan *dreq, maxBatch), quit: make(chan struct{})}
	b.wg.Add(committers)
	for range committers {
		go b.run()
	}
	return b
}

// stop ends the committers after the requests queued.
func (b *batcher) stop() {
	b.mu.Lock()
	b.closed = true
	b.mu.Unlock()
	close(b.quit)
	b.wg.Wait()
}

func (b *batcher) submit(r *dreq) error {
	r.done = make(chan error, 1)
	b.mu.RLock()
	if b.closed {
		b.mu.RUnlock()
		return store.ErrClosed
	}
	// The committers run until stop has the lock: this send completes.
	select {
	case b.in <- r:
	case <-r.ctx.Done():
		b.mu.RUnlock()
		return r.ctx.Err()
	}
	b.mu.RUnlock()
	// Once queued, wait for the outcome even if ctx ends: the caller must
	// not believe a committed delivery failed, nor the reverse.
	return <-r.done
}

func (b *batcher) run() {
	defer b.wg.Done()
	for {
		var batch []*dreq
		select {
		case r := <-b.in:
			batch = append(batch, r)
		case <-b.quit:
			for {
				select {
				case r := <-b.in:
					b.commit([]*dreq{r})
				default:
					return
				}
			}
		}
	fill:
		for len(batch) < maxBatch {
			select {
			case r := <-b.in:
				batch = append(batch, r)
			default:
				break fill
			}
		}
		b.commit(batch)
	}
}

// commit stores a batch and answers its requests.
func (b *batcher) commit(batch []*dreq) {
	live := batch[:0:0]
	for _, r := range batch {
		if err := r.ctx.Err(); err != nil {
			r.done <- err
			continue
		}
		live = append(live, r)
	}
	if len(live) == 0 {
		return
	}
	b.batches.Add(1)
	b.batched.Add(int64(len(live)))
	err := b.s.storeBatch(live)
	if err != nil && len(live) > 1 {
		for _, r := range live {
			r.done <- b.s.storeBatch([]*dreq{r})
		}
		return
	}
	for _, r := range live {
		r.done <- err
	}
}

// storeBatch runs one batch in a transaction, retried on deadlock, and
// publishes its events after the commit.
func (s *Store) storeBatch(batch []*dreq) error {
	ctx := context.Background()
	var events []store.Event
	var err error
	for attempt := 0; ; attempt++ {
		for _, r := range batch {
			for _, u := range r.units {
				u.mailbox, u.uidValidity, u.uids, u.err = 0, 0, nil, nil
			}
			for _, bl := range r.blobs {
				bl.refs, bl.planned = 0, 0
			}
		}
		events, err = s.storeBatchOnce(ctx, batch)
		if err == nil || !retryable(err) || attempt >= maxRetries {
			break
		}
		time.Sleep(time.Duration(attempt+1) * time.Millisecond)
	}
	if err == nil {
		s.publish(events)
	}
	return err
}

// boxRow is a target mailbox, locked for the batch.
type boxRow struct {
	id          store.MailboxID
	acct        store.AccountID
	inbox       bool
	uidValidity uint32
	uidNext     int64
	modSeq      int64
	dMessages   int64
	dUnseen     int64
	dSize       int64
	touched     bool
}

// storeBatchOnce stores a batch in one transaction of two round trips:
// BEGIN with the locks (and the blob ids), then, once the UIDs are
// assigned in Go, every row, the mailboxes' new state, the NOTIFYs and
// COMMIT. Fewer round trips is a shorter hold of the mailbox locks, which
// is what bounds deliveries to one mailbox.
func (s *Store) storeBatchOnce(ctx context.Context, batch []*dreq) (events []store.Event, err error) {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	defer conn.Release()
	began := false
	defer func() {
		if err != nil && began {
			if _, rerr := conn.Exec(ctx, `ROLLBACK`); rerr != nil {
				conn.Conn().Close(ctx) // the pool drops a closed connection
			}
		}
	}()
	began = true
	lk, err := lockTargets(ctx, conn.Conn(), s.chunks, batch)
	if err != nil {
		return nil, err
	}
	msgs := assign(batch, lk)
	for _, b := range lk.boxes {
		if b.touched {
			events = append(events, store.Event{Account: b.acct, Mailbox: b.id, ModSeq: store.ModSeq(b.modSeq)})
		}
	}
	if err := s.writeRows(ctx, conn.Conn(), batch, msgs, lk, events); err != nil {
		return nil, err
	}
	return events, nil
}

// locked is what lockTargets found: the target mailboxes by id, the
// accounts' quotas and used bytes.
type locked struct {
	boxes map[store.MailboxID]*boxRow
	inbox map[store.AccountID]*boxRow
	quota map[store.AccountID]int64
	used  map[store.AccountID]int64
}

// assign gives every unit that can be stored its UIDs and MODSEQs, and
// its failure to every other.
func assign(batch []*dreq, lk *locked) *msgRows {
	msgs := new(msgRows)
	for _, r := range batch {
		for _, u := range r.units {
			mb := lk.boxes[u.mbox]
			if u.mbox == 0 {
				mb = lk.inbox[u.acct]
			}
			if mb == nil || mb.acct != u.acct {
				u.err = store.ErrNotFound
				continue
			}
			u.mailbox, u.uidValidity = mb.id, mb.uidValidity
			var total int64
			for _, m := range u.msgs {
				total += m.size
			}
			// RFC 9208 §5.1 and RFC 3502 §6.3.11: over quota, nothing
			// of the unit is stored.
			if q := lk.quota[u.acct]; q > 0 && lk.used[u.acct]+total > q {
				u.err = store.ErrQuotaExceeded
				continue
			}
			// UIDs are never reused (RFC 9051 §2.3.1.1).
			if mb.uidNext+int64(len(u.msgs)) > 1<<32 {
				u.err = errUIDsExhausted
				continue
			}
			lk.used[u.acct] += total
			for _, m := range u.msgs {
				kws, _ := store.NormKeywords(m.flags.Keywords)
				sys := m.flags.System & store.AllSystemFlags
				mb.modSeq++ // every message gets its own MODSEQ
				msgs.add(mb.id, mb.uidNext, mb.modSeq, sys, store.JoinKeywords(kws), unixNano(m.idate), unixNano(r.now), m.size, r.blobs[m.blob])
				u.uids = append(u.uids, store.UID(mb.uidNext))
				mb.uidNext++
				mb.dMessages++
				mb.dSize += m.size
				if sys&store.FlagSeen == 0 {
					mb.dUnseen++
				}
				mb.touched = true
				r.blobs[m.blob].refs++
			}
		}
	}
	return msgs
}

// lockTargets begins the transaction, stores the blobs of the batch (the
// bytes kept in the database through chunks, in the transaction), and
// locks its accounts, then its target mailboxes, each in id order (every
// writer locks in this order), in one round trip. The blobs go first, so
// that the heavy part of the batch (the bytes) is written before its
// locks are taken: concurrent batches for one mailbox overlap it, and
// only wait for each other's light part and commit.
func lockTargets(ctx context.Context, c *pgx.Conn, chunks txBlobs, batch []*dreq) (*locked, error) {
	var accts, ids []int64
	for _, r := range batch {
		for _, u := range r.units {
			accts = append(accts, int64(u.acct))
			if u.mbox != 0 {
				ids = append(ids, int64(u.mbox))
			}
		}
	}
	slices.Sort(accts)
	accts = slices.Compact(accts)
	lk := &locked{boxes: map[store.MailboxID]*boxRow{}, inbox: map[store.AccountID]*boxRow{},
		quota: map[store.AccountID]int64{}, used: map[store.AccountID]int64{}}
	var pb pgx.Batch
	pb.Queue(`BEGIN`)
	queueBlobs(&pb, chunks, batch)
	pb.Queue(`SELECT id, quota_bytes FROM accounts WHERE id = ANY($1) ORDER BY id FOR NO KEY UPDATE`, accts).Query(func(rows pgx.Rows) error {
		var id, q int64
		_, err := pgx.ForEachRow(rows, []any{&id, &q}, func() error { lk.quota[store.AccountID(id)] = q; return nil })
		return err
	})
	pb.Queue(`SELECT account_id, SUM(size)::bigint FROM mailboxes WHERE account_id = ANY($1) GROUP BY account_id`, accts).Query(func(rows pgx.Rows) error {
		var id, n int64
		_, err := pgx.ForEachRow(rows, []any{&id, &n}, func() error { lk.used[store.AccountID(id)] = n; return nil })
		return err
	})
	pb.Queue(`SELECT id, account_id, name='INBOX', uidvalidity, uidnext, highestmodseq FROM mailboxes
		WHERE id = ANY($1) OR (account_id = ANY($2) AND name='INBOX') ORDER BY id FOR UPDATE`, ids, accts).Query(func(rows pgx.Rows) error {
		var b boxRow
		var uv int64
		_, err := pgx.ForEachRow(rows, []any{&b.id, &b.acct, &b.inbox, &uv, &b.uidNext, &b.modSeq}, func() error {
			nb := b
			nb.uidValidity = uint32(uv)
			lk.boxes[nb.id] = &nb
			if nb.inbox {
				lk.inbox[nb.acct] = &nb
			}
			return nil
		})
		return err
	})
	return lk, c.SendBatch(ctx, &pb).Close()
}

// queueBlobs queues the insert of every blob row of the batch, in one
// statement, with the ids putBlobs gave them and a reference count that
// assumes every unit referring to it is stored (writeRows corrects the
// others), then the chunk rows of the bytes kept in the database, in
// another.
func queueBlobs(pb *pgx.Batch, chunks txBlobs, batch []*dreq) {
	var id, size []int64
	var planned []int32
	var info [][]byte
	var ext []string
	var inID []int64
	var inData [][]byte
	for _, r := range batch {
		refs := make([]int32, len(r.blobs))
		for _, u := range r.units {
			for _, m := range u.msgs {
				refs[m.blob]++
			}
		}
		for i, b := range r.blobs {
			b.planned = int(refs[i])
			id, size, planned = append(id, b.id), append(size, int64(len(b.data))), append(planned, refs[i])
			info, ext = append(info, b.info), append(ext, b.ext)
			if b.ext == "" {
				inID, inData = append(inID, b.id), append(inData, b.data)
			}
		}
	}
	pb.Queue(`INSERT INTO blobs(id, size, refcount, info, ext)
		SELECT id, size, refs, info, NULLIF(ext, '') FROM unnest($1::bigint[], $2::bigint[], $3::int[], $4::bytea[], $5::text[]) AS u(id, size, refs, info, ext)`,
		id, size, planned, info, ext)
	if len(inID) > 0 {
		chunks.QueuePut(pb, inID, inData)
	}
}

// msgRows are the message rows of a batch, as columns.
type msgRows struct {
	mbox, uid, modseq, idate, sdate, size []int64
	flags                                 []int16
	kws                                   []string
	blobs                                 []*pblob
}

func (m *msgRows) add(mbox store.MailboxID, uid, modseq int64, f store.SysFlags, kws string, idate, sdate, size int64, b *pblob) {
	m.mbox = append(m.mbox, int64(mbox))
	m.uid = append(m.uid, uid)
	m.modseq = append(m.modseq, modseq)
	m.flags = append(m.flags, int16(f))
	m.kws = append(m.kws, kws)
	m.idate = append(m.idate, idate)
	m.sdate = append(m.sdate, sdate)
	m.size = append(m.size, size)
	m.blobs = append(m.blobs, b)
}

// writeRows corrects the blobs' reference counts for the units that
// failed, inserts the messages, updates the mailboxes, notifies the other
// nodes and commits, in one round trip.
func (s *Store) writeRows(ctx context.Context, c *pgx.Conn, batch []*dreq, msgs *msgRows, lk *locked, events []store.Event) error {
	// Blobs of units that failed: fewer references than planned.
	var fixID []int64
	var fixRefs []int32
	var dead []int64
	for _, r := range batch {
		for _, b := range r.blobs {
			switch {
			case b.refs == 0:
				dead = append(dead, b.id)
			case b.refs != b.planned:
				fixID, fixRefs = append(fixID, b.id), append(fixRefs, int32(b.refs))
			}
		}
	}
	mBlob := make([]int64, len(msgs.blobs))
	for i, b := range msgs.blobs {
		mBlob[i] = b.id
	}
	var xID, xNext, xMod, xN, xUnseen, xSize []int64
	for _, b := range lk.boxes {
		if b.touched {
			xID, xNext, xMod = append(xID, int64(b.id)), append(xNext, b.uidNext), append(xMod, b.modSeq)
			xN, xUnseen, xSize = append(xN, b.dMessages), append(xUnseen, b.dUnseen), append(xSize, b.dSize)
		}
	}
	var pb pgx.Batch
	if len(dead) > 0 {
		pb.Queue(`DELETE FROM blobs WHERE id = ANY($1)`, dead)
	}
	if len(fixID) > 0 {
		pb.Queue(`UPDATE blobs SET refcount=v.refs FROM unnest($1::bigint[], $2::int[]) AS v(id, refs) WHERE blobs.id=v.id`, fixID, fixRefs)
	}
	pb.Queue(`INSERT INTO messages(mailbox_id, uid, modseq, sysflags, keywords, internal_date, save_date, size, blob_id)
		SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::smallint[], $5::text[], $6::bigint[], $7::bigint[], $8::bigint[], $9::bigint[])`,
		msgs.mbox, msgs.uid, msgs.modseq, msgs.flags, msgs.kws, msgs.idate, msgs.sdate, msgs.size, mBlob)
	pb.Queue(`UPDATE mailboxes b SET uidnext=v.next, highestmodseq=v.modseq, messages=b.messages+v.n, unseen=b.unseen+v.dunseen, size=b.size+v.dsize
		FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::bigint[], $5::bigint[], $6::bigint[]) AS v(id, next, modseq, n, dunseen, dsize)
		WHERE b.id=v.id`, xID, xNext, xMod, xN, xUnseen, xSize)
	if payloads := s.payloads(events); len(payloads) > 0 {
		pb.Queue(`SELECT pg_notify($1, p) FROM unnest($2::text[]) AS p`, s.channel, payloads)
	}
	pb.Queue(`COMMIT`)
	if err := c.SendBatch(ctx, &pb).Close(); err != nil {
		return fmt.Errorf("postgres: store batch: %w", err)
	}
	return nil
}

// errUIDsExhausted is returned when a mailbox has used UID 4294967295: UIDs
// are never reused (RFC 9051 §2.3.1.1); the mailbox is full.
var errUIDsExhausted = fmt.Errorf("%w: mailbox UIDs exhausted", store.ErrQuotaExceeded)

// prepare normalises data to CRLF (unless exact) and parses it once, in
// the caller's goroutine.
func (s *Store) prepare(data []byte, exact bool) (*pblob, error) {
	if !exact && !message.IsCRLF(data) {
		data = message.NormalizeCRLF(data)
	}
	if len(data) == 0 {
		return nil, errors.New("postgres: empty message")
	}
	if s.opts.MaxMessageSize > 0 && int64(len(data)) > s.opts.MaxMessageSize {
		return nil, store.ErrTooLarge
	}
	return &pblob{data: data, info: message.Parse(data).Marshal()}, nil
}

// Deliver implements store.Mail: one blob shared by every target, each
// target stored or failed on its own.
func (s *Store) Deliver(ctx context.Context, d store.Delivery) ([]store.TargetResult, error) {
	if len(d.Targets) == 0 {
		return nil, errors.New("postgres: delivery without targets")
	}
	b, err := s.prepare(d.Data, d.Exact || d.CRLF) // d.CRLF: normalised already
	if err != nil {
		return nil, err
	}
	now := time.Now()
	idate := d.InternalDate
	if idate.IsZero() {
		idate = now
	}
	r := &dreq{ctx: ctx, now: now, blobs: []*pblob{b}}
	if err := s.putBlobs(ctx, r.blobs); err != nil {
		return nil, err
	}
	for _, t := range d.Targets {
		r.units = append(r.units, &unit{acct: t.Account, mbox: t.Mailbox,
			msgs: []unitMsg{{blob: 0, flags: t.Flags, idate: idate, size: int64(len(b.data))}}})
	}
	if err := s.batcher.submit(r); err != nil {
		s.dropExt(r.blobs)
		return nil, err
	}
	res := make([]store.TargetResult, len(r.units))
	for i, u := range r.units {
		res[i] = store.TargetResult{Mailbox: u.mailbox, UIDValidity: u.uidValidity, Err: u.err}
		if u.err == nil {
			res[i].UID = u.uids[0]
		}
	}
	return res, nil
}

// AppendMessages implements store.Mail: every message of every Append in
// one transaction; each Append all or none (RFC 3502 §6.3.11).
func (s *Store) AppendMessages(ctx context.Context, acct store.AccountID, appends []store.Append) ([]store.AppendResult, error) {
	res := make([]store.AppendResult, len(appends))
	now := time.Now()
	r := &dreq{ctx: ctx, now: now}
	units := make([]*unit, len(appends))
	for g, a := range appends {
		if len(a.Messages) == 0 {
			res[g].Err = errors.New("postgres: append without messages")
			continue
		}
		u := &unit{acct: acct, mbox: a.Mailbox}
		var blobs []*pblob
		for _, m := range a.Messages {
			b, err := s.prepare(m.Data, m.Exact)
			if err != nil {
				res[g].Err = err
				break
			}
			idate := m.InternalDate
			if idate.IsZero() {
				idate = now
			}
			u.msgs = append(u.msgs, unitMsg{blob: len(r.blobs) + len(blobs), flags: m.Flags, idate: idate, size: int64(len(b.data))})
			blobs = append(blobs, b)
		}
		if res[g].Err != nil {
			continue
		}
		r.blobs = append(r.blobs, blobs...)
		r.units = append(r.units, u)
		units[g] = u
	}
	if len(r.units) == 0 {
		return res, nil
	}
	if err := s.putBlobs(ctx, r.blobs); err != nil {
		return nil, err
	}
	if err := s.batcher.submit(r); err != nil {
		s.dropExt(r.blobs)
		return nil, err
	}
	for g, u := range units {
		if u == nil {
			continue
		}
		res[g] = store.AppendResult{UIDValidity: u.uidValidity, UIDs: u.uids, Err: u.err}
		if u.err != nil {
			res[g].UIDs = nil
		}
	}
	return res, nil
}

// putBlobs gives the blobs of a request their ids and, with an external
// blob store, stores their bytes there (extblobs.go). Bytes kept in the
// database are written by the batch, in its transaction. The ids come
// from memory but once in a few hundred blobs (pgblobs.Store.NewIDs).
func (s *Store) putBlobs(ctx context.Context, blobs []*pblob) error {
	ids, err := s.chunks.NewIDs(ctx, len(blobs))
	if err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	for i, b := range blobs {
		b.id = ids[i]
	}
	return s.putExt(ctx, blobs)
}
