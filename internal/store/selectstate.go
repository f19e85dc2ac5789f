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
