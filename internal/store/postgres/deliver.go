package postgres

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
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
	data []byte
	info []byte
	refs int // units that stored it
	id   int64
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
	close(b.quit)
	b.wg.Wait()
}

func (b *batcher) submit(r *dreq) error {
	r.done = make(chan error, 1)
	select {
	case <-b.quit:
		return store.ErrClosed
	default:
	}
	select {
	case b.in <- r:
	case <-b.quit:
		return store.ErrClosed
	case <-r.ctx.Done():
		return r.ctx.Err()
	}
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
				bl.refs, bl.id = 0, 0
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

func (s *Store) storeBatchOnce(ctx context.Context, batch []*dreq) ([]store.Event, error) {
	ptx, err := s.pool.Begin(ctx)
	if err != nil {
		return nil, fmt.Errorf("postgres: begin: %w", err)
	}
	defer ptx.Rollback(ctx)
	boxes, quota, used, err := lockTargets(ctx, ptx, batch)
	if err != nil {
		return nil, err
	}
	inbox := map[store.AccountID]*boxRow{}
	for _, b := range boxes {
		if b.inbox {
			inbox[b.acct] = b
		}
	}
	var msgs msgRows
	for _, r := range batch {
		for _, u := range r.units {
			mb := boxes[u.mbox]
			if u.mbox == 0 {
				mb = inbox[u.acct]
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
			if q := quota[u.acct]; q > 0 && used[u.acct]+total > q {
				u.err = store.ErrQuotaExceeded
				continue
			}
			// UIDs are never reused (RFC 9051 §2.3.1.1).
			if mb.uidNext+int64(len(u.msgs)) > 1<<32 {
				u.err = errUIDsExhausted
				continue
			}
			used[u.acct] += total
			for _, m := range u.msgs {
				kws, _ := normKeywords(m.flags.Keywords)
				sys := m.flags.System & allSysFlags
				mb.modSeq++ // every message gets its own MODSEQ
				msgs.add(mb.id, mb.uidNext, mb.modSeq, sys, joinKeywords(kws), unixNano(m.idate), unixNano(r.now), m.size, r.blobs[m.blob])
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
	if len(msgs.mbox) == 0 {
		return nil, ptx.Commit(ctx)
	}
	var events []store.Event
	for _, b := range boxes {
		if b.touched {
			events = append(events, store.Event{Account: b.acct, Mailbox: b.id, ModSeq: store.ModSeq(b.modSeq)})
		}
	}
	if err := s.writeRows(ctx, ptx, batch, &msgs, boxes, events); err != nil {
		return nil, err
	}
	if err := ptx.Commit(ctx); err != nil {
		return nil, fmt.Errorf("postgres: commit: %w", err)
	}
	return events, nil
}

// lockTargets locks the accounts of the batch, then its target mailboxes,
// each in id order (every writer locks in this order), and returns the
// mailboxes by id with the accounts' quotas and used bytes.
func lockTargets(ctx context.Context, t pgx.Tx, batch []*dreq) (map[store.MailboxID]*boxRow, map[store.AccountID]int64, map[store.AccountID]int64, error) {
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
	quota := map[store.AccountID]int64{}
	used := map[store.AccountID]int64{}
	rows, _ := t.Query(ctx, `SELECT id, quota_bytes FROM accounts WHERE id = ANY($1) ORDER BY id FOR NO KEY UPDATE`, accts)
	var id, q int64
	if _, err := pgx.ForEachRow(rows, []any{&id, &q}, func() error { quota[store.AccountID(id)] = q; return nil }); err != nil {
		return nil, nil, nil, err
	}
	rows, _ = t.Query(ctx, `SELECT account_id, SUM(size)::bigint FROM mailboxes WHERE account_id = ANY($1) GROUP BY account_id`, accts)
	if _, err := pgx.ForEachRow(rows, []any{&id, &q}, func() error { used[store.AccountID(id)] = q; return nil }); err != nil {
		return nil, nil, nil, err
	}
	boxes := map[store.MailboxID]*boxRow{}
	rows, _ = t.Query(ctx, `SELECT id, account_id, name='INBOX', uidvalidity, uidnext, highestmodseq FROM mailboxes
		WHERE id = ANY($1) OR (account_id = ANY($2) AND name='INBOX') ORDER BY id FOR UPDATE`, ids, accts)
	var b boxRow
	var uv int64
	_, err := pgx.ForEachRow(rows, []any{&b.id, &b.acct, &b.inbox, &uv, &b.uidNext, &b.modSeq}, func() error {
		nb := b
		nb.uidValidity = uint32(uv)
		boxes[nb.id] = &nb
		return nil
	})
	return boxes, quota, used, err
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

// writeRows inserts the blobs that some unit stored, their chunks, the
// messages, updates the mailboxes and notifies the other nodes: one round
// trip after the blob ids are drawn.
func (s *Store) writeRows(ctx context.Context, t pgx.Tx, batch []*dreq, msgs *msgRows, boxes map[store.MailboxID]*boxRow, events []store.Event) error {
	var blobs []*pblob
	for _, r := range batch {
		for _, b := range r.blobs {
			if b.refs > 0 {
				blobs = append(blobs, b)
			}
		}
	}
	rows, _ := t.Query(ctx, `SELECT nextval('blobs_id_seq') FROM generate_series(1, $1)`, len(blobs))
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return err
	}
	var bID, bSize []int64
	var bRefs []int32
	var bInfo [][]byte
	var cID []int64
	var cN []int32
	var cData [][]byte
	for i, b := range blobs {
		b.id = ids[i]
		bID, bSize, bRefs, bInfo = append(bID, b.id), append(bSize, int64(len(b.data))), append(bRefs, int32(b.refs)), append(bInfo, b.info)
		for n, c := range splitChunks(b.data) {
			cID, cN, cData = append(cID, b.id), append(cN, int32(n)), append(cData, c)
		}
	}
	mBlob := make([]int64, len(msgs.blobs))
	for i, b := range msgs.blobs {
		mBlob[i] = b.id
	}
	var xID, xNext, xMod, xN, xUnseen, xSize []int64
	for _, b := range boxes {
		if b.touched {
			xID, xNext, xMod = append(xID, int64(b.id)), append(xNext, b.uidNext), append(xMod, b.modSeq)
			xN, xUnseen, xSize = append(xN, b.dMessages), append(xUnseen, b.dUnseen), append(xSize, b.dSize)
		}
	}
	var pb pgx.Batch
	pb.Queue(`INSERT INTO blobs(id, size, refcount, info) SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::int[], $4::bytea[])`,
		bID, bSize, bRefs, bInfo)
	pb.Queue(`INSERT INTO blob_chunks(blob_id, n, data) SELECT * FROM unnest($1::bigint[], $2::int[], $3::bytea[])`, cID, cN, cData)
	pb.Queue(`INSERT INTO messages(mailbox_id, uid, modseq, sysflags, keywords, internal_date, save_date, size, blob_id)
		SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::smallint[], $5::text[], $6::bigint[], $7::bigint[], $8::bigint[], $9::bigint[])`,
		msgs.mbox, msgs.uid, msgs.modseq, msgs.flags, msgs.kws, msgs.idate, msgs.sdate, msgs.size, mBlob)
	pb.Queue(`UPDATE mailboxes b SET uidnext=v.next, highestmodseq=v.modseq, messages=b.messages+v.n, unseen=b.unseen+v.dunseen, size=b.size+v.dsize
		FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::bigint[], $5::bigint[], $6::bigint[]) AS v(id, next, modseq, n, dunseen, dsize)
		WHERE b.id=v.id`, xID, xNext, xMod, xN, xUnseen, xSize)
	if payloads := s.payloads(events); len(payloads) > 0 {
		pb.Queue(`SELECT pg_notify($1, p) FROM unnest($2::text[]) AS p`, s.channel, payloads)
	}
	return t.SendBatch(ctx, &pb).Close()
}

// errUIDsExhausted is returned when a mailbox has used UID 4294967295: UIDs
// are never reused (RFC 9051 §2.3.1.1); the mailbox is full.
var errUIDsExhausted = fmt.Errorf("%w: mailbox UIDs exhausted", store.ErrQuotaExceeded)

// prepare normalises data to CRLF (unless exact) and parses it once, in
// the caller's goroutine.
func (s *Store) prepare(data []byte, exact bool) (*pblob, error) {
	if !exact && !isCRLF(data) {
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
	b, err := s.prepare(d.Data, d.Exact)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	idate := d.InternalDate
	if idate.IsZero() {
		idate = now
	}
	r := &dreq{ctx: ctx, now: now, blobs: []*pblob{b}}
	for _, t := range d.Targets {
		r.units = append(r.units, &unit{acct: t.Account, mbox: t.Mailbox,
			msgs: []unitMsg{{blob: 0, flags: t.Flags, idate: idate, size: int64(len(b.data))}}})
	}
	if err := s.batcher.submit(r); err != nil {
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
	if err := s.batcher.submit(r); err != nil {
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

// isCRLF reports whether every CR and LF of b is part of a CRLF pair.
func isCRLF(b []byte) bool {
	for i := 0; ; {
		j := bytes.IndexByte(b[i:], '\n')
		if j < 0 {
			break
		}
		if i+j == 0 || b[i+j-1] != '\r' {
			return false
		}
		i += j + 1
	}
	for i := 0; ; {
		j := bytes.IndexByte(b[i:], '\r')
		if j < 0 {
			return true
		}
		if i+j+1 >= len(b) || b[i+j+1] != '\n' {
			return false
		}
		i += j + 1
	}
}
