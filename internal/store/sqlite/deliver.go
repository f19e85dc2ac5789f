package sqlite

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/youju/youju/internal/blob"
	"github.com/youju/youju/internal/message"
	"github.com/youju/youju/internal/store"
)

// Deliveries are the hot write path (every SMTP message, every APPEND).
// A batch of deliveries costs, in the writer, one SQL statement per few
// dozen messages rather than a few per message:
//
//   - the target mailboxes' state (UIDNEXT, HIGHESTMODSEQ, the account's
//     quota and used bytes) is kept by the committer between batches
//     (deliveryState), valid while only deliveries commit: any other
//     request, and any failed transaction, drops it;
//   - the blob and message rows of a batch are queued and inserted by
//     flush in multi-row INSERTs, blob ids assigned by the writer (it is
//     the only one), and the touched mailboxes are updated in one UPDATE.

// deliveryState is the committer's knowledge of the mailboxes deliveries
// went to, as committed. Only the committer goroutine uses it.
type deliveryState struct {
	boxes    map[store.MailboxID]*mboxState
	inbox    map[store.AccountID]store.MailboxID
	used     map[store.AccountID]int64 // used bytes including unflushed deliveries
	quota    map[store.AccountID]int64
	nextBlob int64 // id of the next blob row; 0 = read it from the index
}

// maxKeptBoxes bounds the mailboxes remembered between batches.
const maxKeptBoxes = 50_000

func newDeliveryState() *deliveryState {
	return &deliveryState{boxes: map[store.MailboxID]*mboxState{}, inbox: map[store.AccountID]store.MailboxID{},
		used: map[store.AccountID]int64{}, quota: map[store.AccountID]int64{}}
}

// reset forgets everything: the next delivery reads from the index.
func (d *deliveryState) reset() {
	clear(d.boxes)
	clear(d.inbox)
	clear(d.used)
	clear(d.quota)
	d.nextBlob = 0
}

// blobRow and msgRow are rows queued by deliveries, inserted by flush.
type blobRow struct {
	id       int64
	segment  uint32
	off, n   int64
	refcount int
	info     []byte
}

type msgRow struct {
	mailbox store.MailboxID
	m       store.Message
	blob    int64 // blobs.id: the backend's own, never in store.Message
}

// Deliver implements store.Mail. The bytes are normalised to CRLF (unless
// d.Exact, or d.CRLF says they are so already), parsed once, appended to the blob store and shared by every
// target.
func (s *Store) Deliver(ctx context.Context, d store.Delivery) ([]store.TargetResult, error) {
	if len(d.Targets) == 0 {
		return nil, errors.New("sqlite: delivery without targets")
	}
	data := d.Data
	if !d.Exact && !d.CRLF && !message.IsCRLF(data) {
		data = message.NormalizeCRLF(data)
	}
	size := int64(len(data))
	if size == 0 {
		return nil, errors.New("sqlite: empty message")
	}
	if s.opts.MaxMessageSize > 0 && size > s.opts.MaxMessageSize {
		return nil, store.ErrTooLarge
	}
	info := message.Parse(data).Marshal()
	now := time.Now()
	idate := d.InternalDate
	if idate.IsZero() {
		idate = now
	}
	res := make([]store.TargetResult, len(d.Targets))
	err := s.submit(&op{ctx: ctx, datas: [][]byte{data}, atomic: true, fn: func(w *wtx) error {
		var blob *blobRow
		for i, t := range d.Targets {
			r, err := w.deliverOne(t, w.ref, size, idate, now, &blob, info)
			if err != nil && !errors.Is(err, store.ErrQuotaExceeded) && !errors.Is(err, store.ErrNotFound) {
				return err
			}
			r.Err = err
			res[i] = r
		}
		return nil
	}})
	if err != nil {
		return nil, err
	}
	return res, nil
}

// deliverOne adds the message to one target; the blob row is queued by
// the first target that succeeds. The rows are written by flush.
func (w *wtx) deliverOne(t store.Target, ref blob.Ref, size int64, idate, now time.Time, blob **blobRow, info []byte) (store.TargetResult, error) {
	mb, err := w.deliveryMailbox(t)
	if err != nil {
		return store.TargetResult{}, err
	}
	d := w.b.d
	r := store.TargetResult{Mailbox: mb.id, UIDValidity: mb.uidValidity}
	// RFC 9208 §5.1: the target over quota fails, the others go on.
	if q := d.quota[t.Account]; q > 0 && d.used[t.Account]+size > q {
		return r, store.ErrQuotaExceeded
	}
	// UIDs are never reused (RFC 9051 §2.3.1.1): 0 means uidnext wrapped
	// past 4294967295.
	if mb.uidNext == 0 {
		return r, errUIDsExhausted
	}
	if *blob == nil {
		id, err := w.nextBlobID()
		if err != nil {
			return r, err
		}
		*blob = &blobRow{id: id, segment: ref.Segment, off: ref.Offset, n: ref.Length, info: info}
		w.b.blobs = append(w.b.blobs, *blob)
	}
	(*blob).refcount++
	kws, _ := store.NormKeywords(t.Flags.Keywords)
	mb.bumped = false // every delivery gets its own MODSEQ
	m := store.Message{UID: mb.uidNext, ModSeq: mb.bump(), Flags: store.Flags{System: t.Flags.System & store.AllSystemFlags, Keywords: kws},
		InternalDate: idate, SaveDate: now, Size: size}
	w.b.msgs = append(w.b.msgs, msgRow{mailbox: mb.id, m: m, blob: (*blob).id})
	mb.uidNext = m.UID + 1
	mb.dMessages++
	mb.dSize += size
	if m.Flags.System&store.FlagSeen == 0 {
		mb.dUnseen++
	}
	if !mb.dirty {
		mb.dirty = true
		w.b.dirty = append(w.b.dirty, mb)
	}
	id := mb.id
	w.cache = append(w.cache, func(c *flagCache) { c.add(id, &m) })
	d.used[t.Account] += size
	r.UID = m.UID
	return r, nil
}

// nextBlobID allocates the id of a new blob row. blobs is AUTOINCREMENT:
// ids are never reused, and an explicit id moves sqlite_sequence on.
func (w *wtx) nextBlobID() (int64, error) {
	d := w.b.d
	if d.nextBlob == 0 {
		var n int64
		if err := w.queryRow(`SELECT MAX(COALESCE((SELECT seq FROM sqlite_sequence WHERE name='blobs'), 0),
			COALESCE((SELECT MAX(id) FROM blobs), 0))`).Scan(&n); err != nil {
			return 0, err
		}
		d.nextBlob = n + 1
	}
	id := d.nextBlob
	d.nextBlob++
	return id, nil
}

// deliveryMailbox returns the state of a delivery's target mailbox (0 =
// INBOX), as delivery state kept since the last other request if any,
// with the account's quota and used bytes.
func (w *wtx) deliveryMailbox(t store.Target) (*mboxState, error) {
	d := w.b.d
	id := t.Mailbox
	if id == 0 {
		id = d.inbox[t.Account]
	}
	if mb := d.boxes[id]; id != 0 && mb != nil {
		if mb.acct != t.Account {
			return nil, store.ErrNotFound
		}
		return mb, nil
	}
	mb := &mboxState{acct: t.Account}
	var quota, used int64
	q := `SELECT b.id, b.uidvalidity, b.uidnext, b.highestmodseq, a.quota_bytes,
		(SELECT COALESCE(SUM(x.size), 0) FROM mailboxes x WHERE x.account_id=a.id)
		FROM mailboxes b JOIN accounts a ON a.id=b.account_id WHERE b.account_id=? AND `
	arg := any(t.Mailbox)
	if t.Mailbox == 0 {
		q, arg = q+`b.name=?`, store.InboxName
	} else {
		q += `b.id=?`
	}
	if err := w.queryRow(q, t.Account, arg).Scan(&mb.id, &mb.uidValidity, &mb.uidNext, &mb.modSeq, &quota, &used); err != nil {
		return nil, notFound(err)
	}
	if t.Mailbox == 0 {
		d.inbox[t.Account] = mb.id
	}
	d.boxes[mb.id] = mb
	if _, ok := d.used[t.Account]; !ok {
		// Nothing of this account is unflushed yet: the sum is current.
		d.used[t.Account], d.quota[t.Account] = used, quota
	}
	return mb, nil
}

// flushDeliveries writes the queued rows and the changed mailboxes, and
// queues their change events.
func (w *wtx) flushDeliveries() error {
	b := w.b
	if b.logged && !b.recorded && len(b.blobs)+len(b.msgs)+len(b.dirty) > 0 {
		// Rows the log record would not have (cannot happen: an adding
		// batch flushes once, after startDurable).
		return errors.New("sqlite: delivery rows queued outside the batch's log record")
	}
	if err := insertChunks(w, b.blobs, insertBlobsSQL, func(args []any, r *blobRow) []any {
		return append(args, r.id, r.segment, r.off, r.n, r.refcount, r.info)
	}); err != nil {
		return err
	}
	if err := insertChunks(w, b.msgs, insertMsgsSQL, func(args []any, r msgRow) []any {
		m := &r.m
		return append(args, r.mailbox, m.UID, m.ModSeq, m.Flags.System, store.JoinKeywords(m.Flags.Keywords),
			unixNano(m.InternalDate), unixNano(m.SaveDate), m.Size, r.blob)
	}); err != nil {
		return err
	}
	if err := insertChunks(w, b.dirty, updateBoxesSQL, func(args []any, mb *mboxState) []any {
		return append(args, mb.id, mb.uidNext, mb.modSeq, mb.dMessages, mb.dUnseen, mb.dSize)
	}); err != nil {
		return err
	}
	for _, mb := range b.dirty {
		b.events = append(b.events, store.Event{Account: mb.acct, Mailbox: mb.id, ModSeq: mb.modSeq})
		mb.dirty, mb.dMessages, mb.dUnseen, mb.dSize = false, 0, 0, 0
	}
	clear(b.blobs)
	clear(b.msgs)
	clear(b.dirty)
	b.blobs, b.msgs, b.dirty = b.blobs[:0], b.msgs[:0], b.dirty[:0]
	return nil
}

// maxChunk is the most rows one statement takes (9 columns of a message
// row: far below SQLite's 32766 parameters). Statements come in sizes of
// powers of two so that a handful of shapes is prepared once.
const (
	chunkShapes = 8
	maxChunk    = 1 << (chunkShapes - 1)
)

// insertChunks runs rows through the statement shapes of sqls (index k
// takes 1<<k rows), largest first.
func insertChunks[T any](w *wtx, rows []T, sqls *[chunkShapes]string, add func([]any, T) []any) error {
	var args []any
	for len(rows) > 0 {
		k := chunkShapes - 1
		for 1<<k > len(rows) {
			k--
		}
		args = args[:0]
		for _, r := range rows[:1<<k] {
			args = add(args, r)
		}
		if _, err := w.exec(sqls[k], args...); err != nil {
			return err
		}
		rows = rows[1<<k:]
	}
	return nil
}

func shapes(head, row, tail string) *[chunkShapes]string {
	var out [chunkShapes]string
	for k := range out {
		out[k] = head + strings.Repeat(row+",", 1<<k-1) + row + tail
	}
	return &out
}

var (
	insertBlobsSQL = shapes(`INSERT INTO blobs(id, segment, off, length, refcount, info) VALUES`, `(?,?,?,?,?,?)`, ``)
	insertMsgsSQL  = shapes(`INSERT INTO messages(mailbox_id, uid, modseq, sysflags, keywords, internal_date, save_date, size, blob_id) VALUES`,
		`(?,?,?,?,?,?,?,?,?)`, ``)
	// An account's used bytes are the sum of its mailboxes' sizes, so
	// they cannot drift from the messages.
	updateBoxesSQL = shapes(`UPDATE mailboxes SET uidnext=v.column2, highestmodseq=v.column3, messages=messages+v.column4,
		unseen=unseen+v.column5, size=size+v.column6 FROM (VALUES`, `(?,?,?,?,?,?)`, `) AS v WHERE mailboxes.id=v.column1`)
)
