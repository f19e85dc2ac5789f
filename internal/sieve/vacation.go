package sieve

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"mime"
	"strings"
	"time"

	"github.com/youju/youju/internal/message"
)

// Vacation limits (RFC 5230 §4.1: the minimum :days should be 1, the
// default 7).
const (
	DefaultVacationDays = 7
	MaxVacationDays     = 365
)

// LoopHeader marks mail that youju's Sieve redirected or answered, so a
// redirect loop between accounts (or servers running youju) ends
// (RFC 5228 §4.2: implementations should detect loops).
const LoopHeader = "X-Youju-Loop"

// VacationSkip returns why the message must not be answered, or "" if it
// may be (RFC 5230 §4.5, RFC 3834 §2): own is the account's addresses
// (the recipient, the account's, and :addresses).
func VacationSkip(m *Message, v *Vacation, own []string) string {
	from := m.EnvelopeFrom
	if from == "" {
		return "null sender"
	}
	local, _ := splitAddr(strings.ToLower(from))
	if local == "mailer-daemon" || strings.HasPrefix(local, "owner-") || strings.HasSuffix(local, "-request") {
		return "sender is a list or a daemon"
	}
	if containsFold(own, from) {
		return "sender is ourselves"
	}
	for _, a := range m.Header("Auto-Submitted") {
		if !strings.EqualFold(strings.TrimSpace(strings.SplitN(a, ";", 2)[0]), "no") {
			return "Auto-Submitted"
		}
	}
	for _, f := range m.hdr.Fields {
		if n := strings.ToLower(f.Name); strings.HasPrefix(n, "list-") || n == strings.ToLower(LoopHeader) {
			return f.Name
		}
	}
	for _, p := range m.Header("Precedence") {
		switch strings.ToLower(strings.TrimSpace(p)) {
		case "bulk", "junk", "list":
			return "Precedence: " + p
		}
	}
	// RFC 5230 §4.5: answer only mail addressed to the user.
	mine := append(append([]string(nil), own...), v.Addresses...)
	for _, h := range []string{"To", "Cc", "Bcc", "Resent-To", "Resent-Cc", "Resent-Bcc"} {
		for _, val := range m.rawHeader(h) {
			for _, a := range message.ParseAddressList(val) {
				if containsFold(mine, a.Mailbox+"@"+a.Host) {
					return ""
				}
			}
		}
	}
	return "not addressed to the user"
}

// VacationKey identifies a response for the per-sender tracking: the
// :handle, or when there is none the :subject, :from, :mime and reason as
// the script wrote them, before variables were expanded (RFC 5230 §4.2),
// and the sender.
func VacationKey(m *Message, v *Vacation) string {
	h := v.Handle
	if h == "" {
		h = v.track
	}
	if h == "" { // a Vacation that no script made
		h = responseID(v.Subject, v.From, v.Reason, v.Mime)
	}
	sum := sha256.Sum256([]byte(h + "\x00" + strings.ToLower(m.EnvelopeFrom)))
	return hex.EncodeToString(sum[:16])
}

// responseID is the arguments that make a response without :handle, as
// counted strings so that one string given to different arguments does
// not make the same ID (RFC 5230 §4.2 implementation note).
func responseID(subject, from, reason string, mime bool) string {
	return fmt.Sprintf("%d:%s%d:%s%d:%s%t", len(subject), subject, len(from), from, len(reason), reason, mime)
}

// VacationPeriod is how long a sender is not answered again.
func VacationPeriod(v *Vacation) time.Duration {
	d := v.Days
	switch {
	case d <= 0:
		d = DefaultVacationDays
	case d > MaxVacationDays:
		d = MaxVacationDays
	}
	return time.Duration(d) * 24 * time.Hour
}

// VacationReply builds the reply to m (RFC 5230 §5, RFC 3834 §3): from
// is the address it comes from when the script gave no :from. It is sent
// with the null reverse-path to m's envelope sender.
func VacationReply(m *Message, v *Vacation, from, hostname string, now time.Time) []byte {
	if v.From != "" {
		from = v.From
	}
	subj := v.Subject
	if subj == "" {
		orig := ""
		if s := m.Header("Subject"); len(s) > 0 {
			orig = s[0]
		}
		subj = "Auto: " + orig // RFC 5230 §5.4
	}
	var b strings.Builder
	hdr := func(k, v string) { b.WriteString(k + ": " + v + "\r\n") }
	hdr("From", encodeIfNeeded(from))
	hdr("To", "<"+m.EnvelopeFrom+">")
	hdr("Subject", mime.QEncoding.Encode("utf-8", subj))
	hdr("Date", now.Format(time.RFC1123Z))
	hdr("Message-ID", "<"+randomID()+"@"+hostname+">")
	hdr("Auto-Submitted", "auto-replied (vacation)") // RFC 3834 §5
	hdr(LoopHeader, "vacation")
	if ids := m.rawHeader("Message-ID"); len(ids) > 0 {
		if id := message.FirstMsgID(ids[0]); id != "" {
			id = "<" + strings.Trim(id, "<>") + ">"
			hdr("In-Reply-To", id) // RFC 5230 §5.5
			refs := ""
			if r := m.rawHeader("References"); len(r) > 0 {
				refs = r[0] + " "
			}
			hdr("References", refs+id)
		}
	}
	hdr("MIME-Version", "1.0")
	if v.Mime {
		// RFC 5230 §4.4: the reason is a MIME entity, headers included.
		b.WriteString(strings.ReplaceAll(strings.ReplaceAll(v.Reason, "\r\n", "\n"), "\n", "\r\n"))
		return []byte(b.String())
	}
	hdr("Content-Type", "text/plain; charset=utf-8")
	hdr("Content-Transfer-Encoding", "base64")
	b.WriteString("\r\n")
	enc := base64.StdEncoding.EncodeToString([]byte(v.Reason))
	for len(enc) > 76 {
		b.WriteString(enc[:76] + "\r\n")
		enc = enc[76:]
	}
	b.WriteString(enc + "\r\n")
	return []byte(b.String())
}

// encodeIfNeeded encodes the display name of a From address given as
// UTF-8 ("张三 <a@b>") as an RFC 2047 word; the address stays as it is.
func encodeIfNeeded(s string) string {
	ascii := true
	for i := 0; i < len(s); i++ {
		ascii = ascii && s[i] < 0x80
	}
	if ascii {
		return s
	}
	if i := strings.LastIndexByte(s, '<'); i > 0 && strings.HasSuffix(s, ">") {
		name := strings.Trim(strings.TrimSpace(s[:i]), `"`)
		return mime.QEncoding.Encode("utf-8", name) + " " + s[i:]
	}
	return s
}

func randomID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("%x.%d", b, time.Now().UnixNano())
}
