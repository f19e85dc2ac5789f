package pop3

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/youju/youju/internal/store"
)

// HiddenKeyword marks a message that a POP3 client deleted while the
// account's DELE action is "hide": it stays for IMAP and webmail, and POP3
// never lists it again.
const HiddenKeyword = "$POP3Hidden"

// dropMsg is one message of the snapshot. It is kept small (16 bytes):
// a 100,000-message maildrop costs 1.6 MB per session, and no body.
type dropMsg struct {
	size      int64
	uid       store.UID
	box       uint16 // index into maildrop.boxes
	deleted   bool   // DELE'd in this session
	retrieved bool   // RETR'd in this session
}

// maildrop is the snapshot of a session (RFC 1939 §5: numbers and sizes
// are fixed for the session).
type maildrop struct {
	opts  store.POP3Options
	boxes []store.Mailbox
	// uidlPrefix is, per box, what precedes the UID in a unique-id.
	uidlPrefix [][]byte
	msgs       []dropMsg
	count      int   // messages not marked deleted
	size       int64 // their octets
}

// maxBoxes is what dropMsg.box can index.
const maxBoxes = 1 << 16

// loadMaildrop takes the snapshot of what the account's POP3 scope shows:
// one indexed scan per mailbox, in UID order, INBOX first.
func loadMaildrop(ctx context.Context, st store.Mail, acct store.Account) (*maildrop, error) {
	d := &maildrop{opts: acct.POP3}
	boxes, err := scopeMailboxes(ctx, st, acct)
	if err != nil {
		return nil, err
	}
	var since time.Time
	if (d.opts.Scope == store.POP3ScopeRecent || d.opts.Scope == store.POP3ScopeAllRecnt) && d.opts.Days > 0 {
		since = time.Now().AddDate(0, 0, -d.opts.Days)
	}
	hide := d.opts.Delete == store.POP3DeleteHide
	total := 0
	for _, b := range boxes {
		total += b.Messages
	}
	d.msgs = make([]dropMsg, 0, total)
	for _, b := range boxes {
		idx := uint16(len(d.boxes))
		d.boxes = append(d.boxes, b)
		d.uidlPrefix = append(d.uidlPrefix, uidlPrefix(b))
		err := st.ListMessages(ctx, acct.ID, b.ID, store.ListOptions{}, func(m *store.Message) error {
			if !since.IsZero() && m.InternalDate.Before(since) {
				return nil
			}
			if hide && hasKeyword(m.Flags.Keywords, HiddenKeyword) {
				return nil
			}
			d.msgs = append(d.msgs, dropMsg{size: m.Size, uid: m.UID, box: idx})
			d.size += m.Size
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("pop3: listing %q: %w", b.Name, err)
		}
	}
	d.count = len(d.msgs)
	return d, nil
}

// scopeMailboxes returns the mailboxes of the scope: INBOX, or for the
// "all" scopes every mailbox but Trash and Junk, INBOX first.
func scopeMailboxes(ctx context.Context, st store.Mail, acct store.Account) ([]store.Mailbox, error) {
	switch acct.POP3.Scope {
	case store.POP3ScopeAll, store.POP3ScopeAllRecnt:
	default:
		inbox, err := st.Mailbox(ctx, acct.ID, store.InboxName)
		if err != nil {
			return nil, fmt.Errorf("pop3: opening INBOX: %w", err)
		}
		return []store.Mailbox{inbox}, nil
	}
	all, err := st.Mailboxes(ctx, acct.ID)
	if err != nil {
		return nil, fmt.Errorf("pop3: listing mailboxes: %w", err)
	}
	var out []store.Mailbox
	for _, b := range all {
		if isInbox(b) {
			out = append([]store.Mailbox{b}, out...)
		} else if b.SpecialUse != store.SpecialTrash && b.SpecialUse != store.SpecialJunk && len(out) < maxBoxes-1 {
			out = append(out, b)
		}
	}
	return out, nil
}

func isInbox(b store.Mailbox) bool { return strings.EqualFold(b.Name, store.InboxName) }

func hasKeyword(kws []string, k string) bool {
	for _, kw := range kws {
		if strings.EqualFold(kw, k) {
			return true
		}
	}
	return false
}

// msg returns message n (1-based) unless it does not exist or is marked
// deleted (RFC 1939 §5: such a message may not be referred to).
func (d *maildrop) msg(n int) (*dropMsg, bool) {
	if n < 1 || n > len(d.msgs) || d.msgs[n-1].deleted {
		return nil, false
	}
	return &d.msgs[n-1], true
}

const hexDigits = "0123456789abcdef"

// appendUIDL appends the unique-id of m (RFC 1939 §7: 1 to 70 characters
// 0x21-0x7E, the same for the message in every session, never reused).
// For INBOX it is UIDVALIDITY and UID as 16 hex digits, stable as long as
// IMAP's own identity of the message is; other mailboxes (the "all"
// scopes) prefix their mailbox id, as UIDVALIDITY alone need not differ
// between mailboxes. INBOX ids stay the same when the scope changes.
func (d *maildrop) appendUIDL(b []byte, m *dropMsg) []byte {
	return appendHex8(append(b, d.uidlPrefix[m.box]...), uint32(m.uid))
}

func uidlPrefix(box store.Mailbox) []byte {
	var b []byte
	if !isInbox(box) {
		b = fmt.Appendf(b, "%x.", int64(box.ID))
	}
	return appendHex8(b, box.UIDValidity)
}

func appendHex8(b []byte, v uint32) []byte {
	for shift := 28; shift >= 0; shift -= 4 {
		b = append(b, hexDigits[(v>>uint(shift))&0xf])
	}
	return b
}

// update is the UPDATE state (RFC 1939 §6): apply the account's DELE
// action to the marked messages, one store call per mailbox, and mark the
// retrieved ones \Seen so that IMAP shows them read. It returns how many
// messages were deleted.
func (s *session) update(ctx context.Context) (int, error) {
	d := s.drop
	perBox := make([][]store.UID, len(d.boxes))
	seen := make([][]store.UID, len(d.boxes))
	n := 0
	for i := range d.msgs {
		m := &d.msgs[i]
		if m.deleted {
			perBox[m.box] = append(perBox[m.box], m.uid)
			n++
		}
		if m.retrieved && (!m.deleted || d.opts.Delete == store.POP3DeleteHide) {
			seen[m.box] = append(seen[m.box], m.uid)
		}
	}
	var errs []error
	for i, b := range d.boxes {
		if len(seen[i]) > 0 {
			// Best effort: \Seen is a courtesy; failing it must not
			// fail the deletions.
			_, err := s.srv.Store.StoreFlags(ctx, s.acct.ID, b.ID, store.UIDSetOf(seen[i]), store.FlagAdd, store.Flags{System: store.FlagSeen}, 0)
			if err != nil {
				s.log.Warn("pop3: marking retrieved messages seen", "mailbox", b.Name, "err", err)
			}
		}
		if len(perBox[i]) > 0 {
			if err := s.deleteMessages(ctx, b, store.UIDSetOf(perBox[i])); err != nil {
				errs = append(errs, fmt.Errorf("mailbox %q: %w", b.Name, err))
			}
		}
	}
	return n, errors.Join(errs...)
}

// deleteMessages applies the DELE action of the account to one mailbox.
func (s *session) deleteMessages(ctx context.Context, b store.Mailbox, set store.UIDSet) error {
	st, acct := s.srv.Store, s.acct.ID
	switch s.drop.opts.Delete {
	case store.POP3DeleteHide:
		_, err := st.StoreFlags(ctx, acct, b.ID, set, store.FlagAdd, store.Flags{Keywords: []string{HiddenKeyword}}, 0)
		return err
	case store.POP3DeleteTrash:
		if b.SpecialUse != store.SpecialTrash {
			trash, err := trashMailbox(ctx, st, acct)
			if err != nil {
				return err
			}
			_, err = st.Move(ctx, acct, b.ID, set, trash.ID)
			return err
		}
	}
	_, err := st.Remove(ctx, acct, b.ID, set)
	return err
}

// trashMailbox finds the \Trash mailbox (RFC 6154), creating it if the
// user deleted it: a "move to Trash" must never turn into a loss.
func trashMailbox(ctx context.Context, st store.Mail, acct store.AccountID) (store.Mailbox, error) {
	boxes, err := st.Mailboxes(ctx, acct)
	if err != nil {
		return store.Mailbox{}, err
	}
	for _, b := range boxes {
		if b.SpecialUse == store.SpecialTrash {
			return b, nil
		}
	}
	b, err := st.CreateMailbox(ctx, acct, "Trash", store.SpecialTrash)
	if errors.Is(err, store.ErrExists) {
		return st.Mailbox(ctx, acct, "Trash")
	}
	return b, err
}
