package sqlite

import (
	"context"
	"errors"
	"math"
	"time"

	"github.com/youju/youju/internal/blob"
	"github.com/youju/youju/internal/store"
)

// Expunged messages are retained for a while (store.ListOptions.Retained):
// an IMAP session keeps a message in its view until it is told of the
// expunge (RFC 9051 §7.5.1, RFC 2180 §4.1), and a FETCH that is already
// running, or that the client sends before its next NOOP, must still find
// the message's data. Expunge therefore moves the index row into the
// retained table, which keeps the blob reference; the row leaves every
// count (mailboxes.messages, size: quota and STATUS) at once, and the flag
// cache holds present messages only. The purger drops retained rows after
// the retention period, releasing their blob references, and Open drops
// them all: no session survives a restart.

// DefaultExpungeRetention is how long expunged messages stay readable to
// the sessions that have not been told. Sessions are told at their next
// command (or at once in IDLE), so the period only has to outlast a
// command in flight, such as a FETCH 1:* of a large mailbox to a slow
// client, plus a client's pause between its commands; five minutes covers
// both with room, while bounding the disk space that expunged messages
// keep after the user deleted them. A session that addresses a message
// after that gets NO [EXPUNGEISSUED] for it (RFC 5530 §3), which is still
// correct, only less kind.
const DefaultExpungeRetention = 5 * time.Minute

func (s *Store) retention() time.Duration {
	if s.opts.ExpungeRetention > 0 {
		return s.opts.ExpungeRetention
	}
	return DefaultExpungeRetention
}

// noteRetained records that n messages of mbox were retained. The writer
// calls it before the commit, so that a reader who no longer finds a
// message among the present ones finds the mailbox marked (a mark for an
// expunge that is then rolled back only costs a query).
func (s *Store) noteRetained(mbox store.MailboxID, n int) {
	s.retainMu.Lock()
	s.retainN[mbox] += n
	s.retainMu.Unlock()
}

// mayRetain reports whether mbox may have retained messages; false is
// certain, so that listing a mailbox without any costs no query.
func (s *Store) mayRetain(mbox store.MailboxID) bool {
	s.retainMu.Lock()
	defer s.retainMu.Unlock()
	return s.retainUnknown || s.retainN[mbox] > 0
}

// retainLost is called when a commit failed: what the marks say is
// unknown until the next purge counts again.
func (s *Store) retainLost() {
	s.retainMu.Lock()
	s.retainUnknown = true
	s.retainMu.Unlock()
}

// retainRow copies the index row of r into the retained table.
func (w *wtx) retainRow(mb store.MailboxID, r *msgRow, now int64) error {
	m := &r.m
	_, err := w.exec(`INSERT OR REPLACE INTO retained(mailbox_id, uid, modseq, sysflags, keywords, internal_date, save_date, size, blob_id, expunged)
		VALUES(?,?,?,?,?,?,?,?,?,?)`, mb, m.UID, m.ModSeq, m.Flags.System, store.JoinKeywords(m.Flags.Keywords),
		unixNano(m.InternalDate), unixNano(m.SaveDate), m.Size, r.blob, now)
	return err
}

// retainRows copies the index rows of msgs (ascending, about to be
// deleted) into the retained table: one INSERT ... SELECT for the whole
// set when it is a few ranges (a folder emptied at once), else row by row.
func (w *wtx) retainRows(mb store.MailboxID, msgs []msgRow, now int64) error {
	var set store.UIDSet
	for i := range msgs {
		set = set.AppendRange(msgs[i].m.UID, msgs[i].m.UID)
	}
	clause, args, filter := uidClause(set)
	if filter {
		for i := range msgs {
			if err := w.retainRow(mb, &msgs[i], now); err != nil {
				return err
			}
		}
		return nil
	}
	_, err := w.exec(`INSERT OR REPLACE INTO retained(mailbox_id, uid, modseq, sysflags, keywords, internal_date, save_date, size, blob_id, expunged)
		SELECT m.mailbox_id, m.uid, m.modseq, m.sysflags, m.keywords, m.internal_date, m.save_date, m.size, m.blob_id, ?
		FROM messages m WHERE m.mailbox_id=?`+clause, append([]any{now, mb}, args...)...)
	return err
}

// purgeRetained drops the rows retained before the given time (Unix ns),
// releases their blob references, sweeps dead blobs and counts what is
// left per mailbox.
func (w *wtx) purgeRetained(before int64) error {
	if _, err := w.exec(`UPDATE blobs SET refcount = refcount - r.n
		FROM (SELECT blob_id, COUNT(*) AS n FROM retained WHERE expunged < ? GROUP BY blob_id) AS r
		WHERE blobs.id = r.blob_id`, before); err != nil {
		return err
	}
	if _, err := w.exec(`DELETE FROM retained WHERE expunged < ?`, before); err != nil {
		return err
	}
	if err := w.sweepBlobs(); err != nil {
		return err
	}
	rows, err := w.query(`SELECT mailbox_id, COUNT(*) FROM retained GROUP BY mailbox_id`)
	if err != nil {
		return err
	}
	defer rows.Close()
	counts := map[store.MailboxID]int{}
	for rows.Next() {
		var id store.MailboxID
		var n int
		if err := rows.Scan(&id, &n); err != nil {
			return err
		}
		counts[id] = n
	}
	if err := rows.Err(); err != nil {
		return err
	}
	s := w.s
	s.retainMu.Lock()
	s.retainN, s.retainUnknown = counts, false
	s.retainMu.Unlock()
	return nil
}

// dropRetained releases the retained rows of a mailbox being deleted.
func (w *wtx) dropRetained(id store.MailboxID) error {
	if _, err := w.exec(`UPDATE blobs SET refcount = refcount - r.n
		FROM (SELECT blob_id, COUNT(*) AS n FROM retained WHERE mailbox_id=? GROUP BY blob_id) AS r
		WHERE blobs.id = r.blob_id`, id); err != nil {
		return err
	}
	_, err := w.exec(`DELETE FROM retained WHERE mailbox_id=?`, id)
	return err
}

// purgeAllRetained runs at Open, after blob recovery and before the
// writer starts, and removes the segments that died.
func (s *Store) purgeAllRetained(ctx context.Context) error {
	tx, err := s.wdb.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	w := &wtx{s: s, tx: tx, b: newBatchTx(nil), ctx: ctx}
	if err := w.purgeRetained(math.MaxInt64); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	if len(w.dead) > 0 {
		s.removeDeadSegments(w.dead)
	}
	return nil
}

// purger drops retained messages once their retention has passed.
func (s *Store) purger() {
	every := max(s.retention()/4, 10*time.Millisecond)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-s.closing:
			return
		case <-t.C:
		}
		s.retainMu.Lock()
		some := s.retainUnknown
		for _, n := range s.retainN {
			some = some || n > 0
		}
		s.retainMu.Unlock()
		if !some {
			continue
		}
		before := time.Now().Add(-s.retention()).UnixNano()
		err := s.do(context.Background(), nil, func(w *wtx) error { return w.purgeRetained(before) })
		if err != nil && !errors.Is(err, store.ErrClosed) {
			s.log.Warn("purging retained messages", "err", err)
		}
	}
}

// retainedQueries read retained rows of a UID range, without and with
// the Info. Arguments: mailbox, account, first UID, last UID.
var retainedQueries = [2]string{
	`SELECT ` + msgCols + ` FROM retained m WHERE ` + mboxScope + ` AND m.uid >= ? AND m.uid <= ? ORDER BY m.uid`,
	`SELECT ` + msgCols + `, b.info FROM retained m JOIN blobs b ON b.id=m.blob_id WHERE ` + mboxScope +
		` AND m.uid >= ? AND m.uid <= ? ORDER BY m.uid`,
}

// retainedRange returns the retained messages of mbox with lo <= UID <=
// hi that opt selects, ascending; nil without a query when the mailbox
// has none. Listings call it after reading the present messages of the
// same range: a message expunged in between is then found here.
func (s *Store) retainedRange(ctx context.Context, acct store.AccountID, mbox store.MailboxID, lo, hi store.UID, opt *store.ListOptions) ([]store.Message, error) {
	if !opt.Retained || lo > hi || !s.mayRetain(mbox) {
		return nil, nil
	}
	q := retainedQueries[0]
	if opt.WithInfo {
		q = retainedQueries[1]
	}
	msgs, err := s.readMessages(ctx, q, []any{mbox, acct, lo, hi}, opt.WithInfo)
	if err != nil {
		return nil, err
	}
	out := msgs[:0]
	for _, m := range msgs {
		if (opt.UIDs == nil || setContains(opt.UIDs, m.UID)) && m.ModSeq > opt.ChangedSince {
			out = append(out, m)
		}
	}
	return out, nil
}

// emitMerged calls fn for the present messages live and the retained ret
// in UID order (both ascending). A UID in both, expunged while the
// listing ran, is given once, as present; keep filters live.
func emitMerged(live, ret []store.Message, keep func(*store.Message) bool, fn func(*store.Message) error) error {
	j := 0
	for i := range live {
		m := &live[i]
		for ; j < len(ret) && ret[j].UID <= m.UID; j++ {
			if ret[j].UID < m.UID {
				if err := fn(&ret[j]); err != nil {
					return err
				}
			}
		}
		if keep != nil && !keep(m) {
			continue
		}
		if err := fn(m); err != nil {
			return err
		}
	}
	for ; j < len(ret); j++ {
		if err := fn(&ret[j]); err != nil {
			return err
		}
	}
	return nil
}

// OpenMessageWith implements store.Mail.
func (s *Store) OpenMessageWith(ctx context.Context, acct store.AccountID, mbox store.MailboxID, uid store.UID, opt store.OpenOptions) (store.MessageReader, error) {
	r, err := s.OpenMessage(ctx, acct, mbox, uid)
	if !errors.Is(err, store.ErrNotFound) || !opt.Retained {
		return r, err
	}
	// Not present: expunged, and read here after the expunge committed.
	var ref blob.Ref
	err = s.rq.QueryRowContext(ctx, `SELECT b.segment, b.off, b.length FROM retained m JOIN blobs b ON b.id=m.blob_id
		WHERE `+mboxScope+` AND m.uid=?`, mbox, acct, uid).Scan(&ref.Segment, &ref.Offset, &ref.Length)
	if err != nil {
		return nil, notFound(err)
	}
	br, err := s.blobs.Open(ref)
	if errors.Is(err, blob.ErrNotFound) {
		return nil, store.ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	return br, nil
}

// CopyMessages implements store.Mail.
func (s *Store) CopyMessages(ctx context.Context, acct store.AccountID, src store.MailboxID, uids store.UIDSet, dst store.MailboxID, opt store.CopyOptions) (store.CopyResult, error) {
	var res store.CopyResult
	err := s.do(ctx, nil, func(w *wtx) error {
		var err error
		res, err = w.copyMessages(acct, src, uids, dst, opt)
		return err
	})
	return res, err
}

// setSize is the number of UIDs a set names.
func setSize(set store.UIDSet) uint64 {
	var n uint64
	for _, r := range set {
		if r.Hi >= r.Lo {
			n += uint64(r.Hi-r.Lo) + 1
		}
	}
	return n
}
