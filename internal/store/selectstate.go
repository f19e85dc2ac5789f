package store

import "context"

// MailboxState is what opening a mailbox (IMAP SELECT and EXAMINE, RFC 9051
// §6.3.2) needs besides its Mailbox row: which messages are there, the
// first unseen one (IMAP4rev1's UNSEEN, RFC 3501 §6.3.1) and the keywords
// in use (FLAGS, RFC 9051 §7.3.5).
type MailboxState struct {
	// UIDs are the UIDs of the present messages as ascending runs: a
	// mailbox whose UIDs have few gaps costs a few ranges, whatever its
	// size. The caller owns the slice.
	UIDs UIDSet
	// FirstUnseen is the lowest UID without \Seen, 0 if every message is
	// seen.
	FirstUnseen UID
	// Keywords are the keywords set on at least one message, as
	// MailboxKeywords gives them.
	Keywords []string
}

// Len is the number of messages in s.UIDs.
func (s *MailboxState) Len() int {
	n := 0
	for _, r := range s.UIDs {
		n += int(r.Hi-r.Lo) + 1
	}
	return n
}

// SelectStater is implemented by a backend that can give a mailbox's
// MailboxState without reading every message, so that SELECT of a big
// mailbox costs what its gaps cost, not what its messages cost.
type SelectStater interface {
	SelectState(ctx context.Context, acct AccountID, mbox MailboxID) (MailboxState, error)
}

// SelectState returns the state of the mailbox. It reflects at least every
// change committed before the call, so that a HIGHESTMODSEQ read before it
// is not newer than what it describes (a session catches up from there).
// It uses s's SelectStater when it has one and otherwise reads the flags
// of every message once.
func SelectState(ctx context.Context, s Mail, acct AccountID, mbox MailboxID) (MailboxState, error) {
	if ss, ok := s.(SelectStater); ok {
		return ss.SelectState(ctx, acct, mbox)
	}
	var st MailboxState
	var ks KeywordSet
	err := s.ListMessages(ctx, acct, mbox, ListOptions{}, func(m *Message) error {
		st.UIDs = st.UIDs.AppendRange(m.UID, m.UID)
		if st.FirstUnseen == 0 && m.Flags.System&FlagSeen == 0 {
			st.FirstUnseen = m.UID
		}
		ks.Add(m.Flags.Keywords)
		return nil
	})
	if err != nil {
		return MailboxState{}, err
	}
	st.Keywords = ks.Sorted()
	return st, nil
}

// RecentMode says what opening a mailbox does with IMAP's \Recent (RFC
// 3501 §2.3.2; see RecentClaimer).
type RecentMode int

const (
	// RecentNone neither claims nor looks: IMAP4rev2 has no \Recent (RFC
	// 9051 Appendix E).
	RecentNone RecentMode = iota
	// RecentLook gives the messages above the floor without moving it
	// (EXAMINE).
	RecentLook
	// RecentClaim raises the floor over the mailbox's messages, so that
	// no other session sees them as recent (a read-write SELECT).
	RecentClaim
)

// Selection is a mailbox opened by MailboxSelecter.
type Selection struct {
	Mailbox Mailbox
	// State is of a snapshot no older than Mailbox's: Mailbox's
	// HIGHESTMODSEQ is not newer than State's UIDs.
	State MailboxState
	// Recent covers the UIDs of State recent to the caller (nil with
	// RecentNone). Its ranges may span UIDs that are not in State (the
	// gaps of expunged ones): count them against State.
	Recent UIDSet
}

// MailboxSelecter is implemented by a store that keeps \Recent for every
// node (RecentClaimer) and can open a mailbox by name in fewer round
// trips than Mailbox, SelectState and RecentFloor one after the other:
// SELECT of a big mailbox on a database costs its round trips. The answer
// is that sequence's: a missing name (or another account's mailbox) is
// ErrNotFound; with RecentClaim the floor is raised over every UID of
// State atomically with respect to every node, and Recent are the UIDs
// this call raised it over, which no other session got.
type MailboxSelecter interface {
	SelectMailbox(ctx context.Context, acct AccountID, name string, recent RecentMode) (Selection, error)
}
