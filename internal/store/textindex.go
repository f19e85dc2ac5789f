package store

import (
	"context"
	"errors"
	"time"
)

// TextField is a part of a message a text index covers: the fields of the
// IMAP SEARCH keys SUBJECT, FROM, TO, CC, BCC (RFC 9051 §6.4.4), every
// header line (HEADER and the header half of TEXT) and the decoded text of
// the body (BODY and the body half of TEXT).
type TextField uint8

// The fields of a text index.
const (
	TextSubject TextField = iota + 1
	TextFrom
	TextTo
	TextCc
	TextBcc
	TextHeader // every header line, "name: decoded value"
	TextBody
)

// TextMatches is what a text index answers for one term in one field.
type TextMatches struct {
	// Candidates are the UIDs of the messages that may contain the term:
	// every message that does, every message not indexed yet, and maybe
	// others (some perhaps expunged).
	Candidates UIDSet
	// Sure are the candidates the index proves to contain the term, if
	// they exist (a UID may be of a message expunged since): the caller
	// need not read them to check.
	Sure UIDSet
}

// TextIndex is implemented by backends with a text index. The index only
// narrows: IMAP's substring semantics (RFC 9051 §6.4.4) stay with the
// caller, which re-checks every candidate, so an index may answer with
// more messages than match, never with fewer.
type TextIndex interface {
	// TextCandidates returns which messages of the mailbox may contain,
	// and which surely contain, value (case-insensitively) in field. ok
	// is false when the index cannot narrow this term (too short, say):
	// then every message is a candidate.
	TextCandidates(ctx context.Context, acct AccountID, mbox MailboxID, field TextField, value string) (m TextMatches, ok bool, err error)
}

// TextIndexRebuilder is implemented by backends whose text index can be
// dropped and built again for one account (youju index rebuild).
type TextIndexRebuilder interface {
	// RebuildTextIndex drops the account's index entries and queues its
	// messages for indexing again; it returns how many were queued.
	RebuildTextIndex(ctx context.Context, acct AccountID) (int, error)
}

// TextCandidates passes the optional TextIndex through Metered; a backend
// without one narrows nothing.
func (m *metered) TextCandidates(ctx context.Context, acct AccountID, mbox MailboxID, field TextField, value string) (TextMatches, bool, error) {
	ti, ok := m.Store.(TextIndex)
	if !ok {
		return TextMatches{}, false, nil
	}
	defer m.since("textindex", time.Now())
	return ti.TextCandidates(ctx, acct, mbox, field, value)
}

// RebuildTextIndex passes the optional TextIndexRebuilder through Metered.
func (m *metered) RebuildTextIndex(ctx context.Context, acct AccountID) (int, error) {
	r, ok := m.Store.(TextIndexRebuilder)
	if !ok {
		return 0, errors.New("store: this backend has no text index")
	}
	return r.RebuildTextIndex(ctx, acct)
}
