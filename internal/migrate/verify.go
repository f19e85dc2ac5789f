package migrate

import (
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"slices"

	"github.com/youju/youju/internal/store"
)

// Report is the outcome of Verify.
type Report struct {
	Accounts, Mailboxes, Messages int
	Bytes                         int64
	// Problems lists the differences found (at most maxProblems).
	Problems []string
}

const maxProblems = 100

func (r *Report) problem(format string, a ...any) {
	if len(r.Problems) < maxProblems {
		r.Problems = append(r.Problems, fmt.Sprintf(format, a...))
	}
}

// Verify compares every account, mailbox and message of src with dst:
// the account's settings and password, each mailbox's UIDVALIDITY,
// UIDNEXT, HIGHESTMODSEQ, counts and expunged UIDs, each message's UID, MODSEQ, flags,
// dates and size, and the SHA-256 of its bytes. progress (may be nil) is
// told the messages checked.
func Verify(ctx context.Context, src, dst store.Store, progress func(done int)) (Report, error) {
	var r Report
	accts, err := src.ListAccounts(ctx)
	if err != nil {
		return r, err
	}
	for _, a := range accts {
		ta, err := dst.Account(ctx, a.Address)
		if err != nil {
			r.problem("account %s: %v", a.Address, err)
			continue
		}
		r.Accounts++
		if ta.PasswordHash != a.PasswordHash || ta.SCRAM != a.SCRAM || ta.Disabled != a.Disabled ||
			ta.QuotaBytes != a.QuotaBytes || ta.AllowIMAP != a.AllowIMAP || ta.AllowPOP3 != a.AllowPOP3 || ta.AllowSMTP != a.AllowSMTP ||
			ta.Admin != a.Admin {
			r.problem("account %s: settings or password differ", a.Address)
		}
		boxes, err := src.Mailboxes(ctx, a.ID)
		if err != nil {
			return r, err
		}
		for _, mb := range boxes {
			tm, err := dst.Mailbox(ctx, ta.ID, mb.Name)
			if err != nil {
				r.problem("%s %q: %v", a.Address, mb.Name, err)
				continue
			}
			r.Mailboxes++
			where := fmt.Sprintf("%s %q", a.Address, mb.Name)
			if tm.UIDValidity != mb.UIDValidity || tm.UIDNext != mb.UIDNext || tm.HighestModSeq != mb.HighestModSeq {
				r.problem("%s: UIDVALIDITY/UIDNEXT/HIGHESTMODSEQ %d/%d/%d, source %d/%d/%d", where,
					tm.UIDValidity, tm.UIDNext, tm.HighestModSeq, mb.UIDValidity, mb.UIDNext, mb.HighestModSeq)
			}
			if tm.Messages != mb.Messages || tm.Unseen != mb.Unseen || tm.Size != mb.Size || tm.SpecialUse != mb.SpecialUse || tm.Subscribed != mb.Subscribed {
				r.problem("%s: messages/unseen/size/special-use/subscribed %d/%d/%d/%q/%v, source %d/%d/%d/%q/%v", where,
					tm.Messages, tm.Unseen, tm.Size, tm.SpecialUse, tm.Subscribed, mb.Messages, mb.Unseen, mb.Size, mb.SpecialUse, mb.Subscribed)
			}
			sc, err := src.Changes(ctx, a.ID, mb.ID, 0)
			if err != nil {
				return r, err
			}
			dc, err := dst.Changes(ctx, ta.ID, tm.ID, 0)
			if err != nil {
				return r, err
			}
			if sc.Vanished.SequenceSet() != dc.Vanished.SequenceSet() {
				r.problem("%s: expunged UIDs %s, source %s", where, dc.Vanished.SequenceSet(), sc.Vanished.SequenceSet())
			}
			if err := verifyMessages(ctx, &r, src, dst, a.ID, mb.ID, ta.ID, tm.ID, where, progress); err != nil {
				return r, err
			}
		}
	}
	return r, nil
}

// verifyMessages compares the messages of one mailbox a page at a time.
func verifyMessages(ctx context.Context, r *Report, src, dst store.Store, sa store.AccountID, sm store.MailboxID,
	da store.AccountID, dm store.MailboxID, where string, progress func(int)) error {
	from := store.UID(1)
	for {
		sp, err := listPage(ctx, src, sa, sm, from)
		if err != nil || len(sp) == 0 {
			return err
		}
		dp, err := listPage(ctx, dst, da, dm, from)
		if err != nil {
			return err
		}
		got := map[store.UID]*store.Message{}
		for _, m := range dp {
			if m.UID <= sp[len(sp)-1].UID {
				got[m.UID] = m
			}
		}
		for _, m := range sp {
			t, ok := got[m.UID]
			if !ok {
				r.problem("%s: UID %d missing", where, m.UID)
				continue
			}
			delete(got, m.UID)
			r.Messages++
			if t.ModSeq != m.ModSeq || t.Flags.System != m.Flags.System || !sameKeywords(t.Flags.Keywords, m.Flags.Keywords) ||
				!t.InternalDate.Equal(m.InternalDate) || t.Size != m.Size {
				r.problem("%s: UID %d: MODSEQ, flags, date or size differ", where, m.UID)
				continue
			}
			a, err := digest(ctx, src, sa, sm, m.UID)
			if err != nil {
				return err
			}
			b, err := digest(ctx, dst, da, dm, m.UID)
			if err != nil {
				return err
			}
			if a != b {
				r.problem("%s: UID %d: SHA-256 of the bytes differs", where, m.UID)
			}
			r.Bytes += m.Size
		}
		for uid := range got {
			r.problem("%s: UID %d only in the target", where, uid)
		}
		if progress != nil {
			progress(r.Messages)
		}
		last := sp[len(sp)-1].UID
		if last == store.UID(^uint32(0)) {
			return nil
		}
		from = last + 1
	}
}

func sameKeywords(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

func digest(ctx context.Context, s store.Store, acct store.AccountID, mbox store.MailboxID, uid store.UID) ([32]byte, error) {
	var sum [32]byte
	r, err := s.OpenMessage(ctx, acct, mbox, uid)
	if err != nil {
		return sum, fmt.Errorf("reading UID %d: %w", uid, err)
	}
	defer r.Close()
	h := sha256.New()
	if _, err := io.Copy(h, io.LimitReader(r, r.Size())); err != nil {
		return sum, fmt.Errorf("reading UID %d: %w", uid, err)
	}
	copy(sum[:], h.Sum(nil))
	return sum, nil
}
