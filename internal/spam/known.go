package spam

import (
	"bytes"

	"github.com/youju/youju/internal/mailauth"
)

// ScoreKnownSender is what a message from a known correspondent (an
// address the recipient wrote to in the last 30 days, and whose domain
// vouched for it by SPF or DKIM) takes off the score: replies to one's
// own mail are almost never spam. It does not outweigh a virus or a
// reject-level score on its own.
const ScoreKnownSender = -3.0

// KnownScore scores the sender from for the recipient account acct (not
// Global): KNOWN_SENDER when acct wrote to from and the sender is
// authenticated (a forged envelope sender must not borrow a friend's
// reputation), else nothing.
func (c *Checker) KnownScore(acct int64, from string, r mailauth.Result) Score {
	var s Score
	if c.Send == nil || acct == Global || from == "" || !Authenticated(r, from) {
		return s
	}
	if c.Send.Knows(acct, from) {
		s.Add("KNOWN_SENDER", ScoreKnownSender)
	}
	return s
}

// spamField is the name of our field, with the colon, lower case.
const spamField = "x-youju-spam:"

// StripHeader removes every X-Youju-Spam field (with its folded
// continuation lines) from the header of msg, so that a sender cannot
// forge our verdict: users and Sieve rules trust it. msg is in CRLF form
// (or LF: a line ends at LF either way). Without such a field, msg is
// returned unchanged (no copy); else a new slice.
func StripHeader(msg []byte) []byte {
	end := headerEnd(msg)
	if !hasField(msg[:end]) {
		return msg
	}
	out := make([]byte, 0, len(msg))
	skipping := false
	for i := 0; i < end; {
		j := bytes.IndexByte(msg[i:end], '\n')
		next := end
		if j >= 0 {
			next = i + j + 1
		}
		line := msg[i:next]
		cont := len(line) > 0 && (line[0] == ' ' || line[0] == '\t')
		if !cont {
			skipping = isSpamField(line)
		}
		if !skipping {
			out = append(out, line...)
		}
		i = next
	}
	return append(out, msg[end:]...)
}

// headerEnd is the offset of the empty line ending the header (or
// len(msg) when there is none).
func headerEnd(msg []byte) int {
	for i := 0; i < len(msg); {
		if msg[i] == '\n' || (msg[i] == '\r' && i+1 < len(msg) && msg[i+1] == '\n') {
			return i
		}
		j := bytes.IndexByte(msg[i:], '\n')
		if j < 0 {
			return len(msg)
		}
		i += j + 1
	}
	return len(msg)
}

func isSpamField(line []byte) bool {
	if len(line) < len(spamField) {
		return false
	}
	// RFC 5322 §3.6.8: the name, optional WSP (obsolete syntax), colon.
	name := line[:len(spamField)-1]
	rest := bytes.TrimLeft(line[len(spamField)-1:], " \t")
	return bytes.EqualFold(name, []byte(spamField[:len(spamField)-1])) && len(rest) > 0 && rest[0] == ':'
}

func hasField(hdr []byte) bool {
	for i := 0; i < len(hdr); {
		if isSpamField(hdr[i:]) {
			return true
		}
		j := bytes.IndexByte(hdr[i:], '\n')
		if j < 0 {
			return false
		}
		i += j + 1
	}
	return false
}
