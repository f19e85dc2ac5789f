package server

import (
	"bytes"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/youju/youju/internal/imap/wire"
	"github.com/youju/youju/internal/message"
	"github.com/youju/youju/internal/store"
)

// bodySearchLimit bounds the decoded text of one message searched by BODY
// and TEXT.
const bodySearchLimit = 4 << 20

// cmdSearch answers SEARCH and UID SEARCH (RFC 9051 §6.4.4), with the
// return options of ESEARCH (RFC 4731), SEARCHRES (RFC 5182) and
// CONTEXT=SEARCH (RFC 5267 §4: PARTIAL, UPDATE, CONTEXT).
func cmdSearch(c *conn, cmd *wire.Command) error {
	a := cmd.Args.(*wire.SearchArgs)
	ret := returnOpts{opts: a.Return, partial: a.Partial}
	if ret.has("SAVE") {
		// RFC 5182 §2.4: a failed SEARCH with SAVE leaves "$" empty.
		c.sel.saved = nil
	}
	key := a.Key
	if err := decodeSearchCharset(&key, a.Charset); err != nil {
		return err
	}
	if err := c.checkUpdateTag(cmd.Tag, ret); err != nil {
		return err
	}
	// RFC 7162 §3.1.5: with a MODSEQ key, the response carries a
	// mod-sequence, so each message's is kept.
	withModSeq := hasKey(&key, "MODSEQ")
	compute := func() ([]store.UID, []store.ModSeq, error) {
		var modseqOf map[store.UID]store.ModSeq
		var visit func(*store.Message, uint32)
		if withModSeq {
			modseqOf = make(map[store.UID]store.ModSeq)
			visit = func(m *store.Message, _ uint32) { modseqOf[m.UID] = m.ModSeq }
		}
		uids, err := c.matchProgram(&key, nil, false, visit)
		if err != nil || !withModSeq {
			return uids, nil, err
		}
		modseqs := make([]store.ModSeq, len(uids))
		for i, u := range uids {
			modseqs[i] = modseqOf[u]
		}
		return uids, modseqs, nil
	}
	// A program the index answers is fast; one that reads every message's
	// parse is worth keeping for the next page (resultcache.go).
	ck := ""
	if needsInfo(&key) {
		ck = resultKey("SEARCH", &key, nil)
	}
	uids, modseqs, err := c.cachedSearch(ck, compute)
	if err != nil {
		return err
	}
	if ret.has("SAVE") {
		c.sel.saved = ret.savedSet(uids)
	}
	if !a.HasReturn && !c.rev2 {
		c.writeSearch(cmd.UID, uids, ret.maxModSeq(modseqs))
	} else {
		// RFC 9051 §7.3.4: IMAP4rev2 answers with ESEARCH.
		c.writeESearch(cmd.Tag, cmd.UID, ret, uids, modseqs)
	}
	if ret.has("UPDATE") {
		// A copy: the context changes its list, which the cache may share.
		c.addContext(&updateContext{tag: cmd.Tag, uid: cmd.UID, key: key, uids: slices.Clone(uids)})
	}
	return c.w.Err()
}

func hasKey(k *wire.SearchKey, name string) bool {
	if k.Key == name {
		return true
	}
	for i := range k.Sub {
		if hasKey(&k.Sub[i], name) {
			return true
		}
	}
	return false
}

// writeSearch writes the "* SEARCH ..." of RFC 3501 §7.2.5, with the
// "(MODSEQ n)" of RFC 7162 §3.1.6 when the program had a MODSEQ key and
// found something.
func (c *conn) writeSearch(uid bool, uids []store.UID, modseq store.ModSeq) {
	w := c.w
	w.Raw("* SEARCH")
	for _, u := range uids {
		w.SP().Number(uint64(c.number(uid, u)))
	}
	if modseq > 0 && len(uids) > 0 {
		w.Raw(" (MODSEQ ").Number(uint64(modseq)).Byte(')')
	}
	w.CRLF()
}

// indexKey puts a top-level key into the store query when the index can
// evaluate it; false leaves it for per-message evaluation.
func (c *conn) indexKey(q *store.Query, k wire.SearchKey) bool {
	switch k.Key {
	case "ALL":
		return true
	case "SEEN", "ANSWERED", "FLAGGED", "DELETED", "DRAFT":
		q.FlagsSet |= sysFlag(k.Key)
		return true
	case "UNSEEN", "UNANSWERED", "UNFLAGGED", "UNDELETED", "UNDRAFT":
		q.FlagsUnset |= sysFlag(k.Key[2:])
		return true
	case "KEYWORD":
		q.Keywords = append(q.Keywords, k.Value)
		return true
	case "UNKEYWORD":
		q.NotKeywords = append(q.NotKeywords, k.Value)
		return true
	case "LARGER":
		if q.MinSize == 0 || int64(k.Num) > q.MinSize {
			q.MinSize = int64(k.Num)
		}
		return k.Num > 0
	case "SMALLER":
		if q.MaxSize == 0 || int64(k.Num) < q.MaxSize {
			q.MaxSize = int64(k.Num)
		}
		return k.Num > 0
	case "SINCE":
		if q.Since.IsZero() || k.Date.After(q.Since) {
			q.Since = k.Date
		}
		return true
	case "BEFORE":
		if q.Before.IsZero() || k.Date.Before(q.Before) {
			q.Before = k.Date
		}
		return true
	case "UID", "SEQ":
		if q.UIDs != nil {
			return false
		}
		if k.Set.Saved {
			return false
		}
		if k.Key == "UID" {
			q.UIDs = c.sel.uids.uidsToSet(k.Set)
		} else {
			q.UIDs = c.sel.uids.seqsToUIDs(k.Set)
		}
		if q.UIDs == nil {
			q.UIDs = store.UIDSet{} // matches nothing
		}
		return true
	}
	return false
}

func sysFlag(name string) store.SysFlags {
	for _, s := range sysFlagNames {
		if strings.EqualFold(s.name[1:], name) {
			return s.bit
		}
	}
	return 0
}

// decodeSearchCharset converts the string values of the program from the
// CHARSET of the command to UTF-8 (RFC 9051 §6.4.4), so that Chinese
// clients can search in GB18030/GBK/GB2312/Big5.
func decodeSearchCharset(k *wire.SearchKey, charset string) error {
	if charset == "" || charset == "UTF-8" || charset == "US-ASCII" {
		return nil
	}
	if k.Value != "" {
		v, err := message.DecodeCharset(charset, []byte(k.Value))
		if err != nil {
			return no("BADCHARSET (US-ASCII UTF-8 GB18030 GBK GB2312 BIG5)", "unsupported charset")
		}
		k.Value = v
	}
	for i := range k.Sub {
		if err := decodeSearchCharset(&k.Sub[i], charset); err != nil {
			return err
		}
	}
	return nil
}

func needsInfo(k *wire.SearchKey) bool {
	switch k.Key {
	case "FROM", "TO", "CC", "BCC", "SUBJECT", "HEADER", "BODY", "TEXT", "SENTBEFORE", "SENTON", "SENTSINCE":
		return true
	}
	for i := range k.Sub {
		if needsInfo(&k.Sub[i]) {
			return true
		}
	}
	return false
}

// evaluator matches keys on one message at a time.
type evaluator struct {
	c   *conn
	now time.Time
	// per message, loaded on demand
	uid  store.UID
	raw  []byte // the stored parse, undecoded
	info *message.Info
	rd   store.MessageReader
	// sure: per text key, the UIDs the text index proves it matches
	// (textsearch.go).
	sure map[*wire.SearchKey]store.UIDSet
}

func (e *evaluator) match(k *wire.SearchKey, m *store.Message) (bool, error) {
	if e.uid != m.UID {
		e.reset(m)
	}
	ok, err := e.eval(k, m)
	if e.rd != nil {
		e.rd.Close()
		e.rd = nil
	}
	return ok, err
}

func (e *evaluator) reset(m *store.Message) {
	e.uid, e.info, e.raw = m.UID, nil, m.Info
}

// parsed returns the stored parse of the current message, decoded on
// first use: most programs never look at it, though the store may have
// loaded it for SORT.
func (e *evaluator) parsed() *message.Info {
	if e.info == nil {
		if e.raw != nil {
			e.info, _ = message.UnmarshalInfo(e.raw)
		}
		if e.info == nil {
			e.info = &message.Info{}
		}
	}
	return e.info
}

func (e *evaluator) eval(k *wire.SearchKey, m *store.Message) (bool, error) {
	if e.sure != nil && inSet(e.sure[k], m.UID) {
		return true, nil
	}
	f := m.Flags.System
	switch k.Key {
	case "AND":
		for i := range k.Sub {
			if ok, err := e.eval(&k.Sub[i], m); !ok || err != nil {
				return false, err
			}
		}
		return true, nil
	case "OR":
		if ok, err := e.eval(&k.Sub[0], m); ok || err != nil {
			return ok, err
		}
		return e.eval(&k.Sub[1], m)
	case "NOT":
		ok, err := e.eval(&k.Sub[0], m)
		return !ok && err == nil, err
	case "ALL":
		return true, nil
	case "RECENT", "OLD": // RFC 3501 §6.4.4
		return e.c.isRecent(m.UID) == (k.Key == "RECENT"), nil
	case "NEW":
		return e.c.isRecent(m.UID) && f&store.FlagSeen == 0, nil
	case "SEEN", "ANSWERED", "FLAGGED", "DELETED", "DRAFT":
		return f&sysFlag(k.Key) != 0, nil
	case "UNSEEN", "UNANSWERED", "UNFLAGGED", "UNDELETED", "UNDRAFT":
		return f&sysFlag(k.Key[2:]) == 0, nil
	case "KEYWORD", "UNKEYWORD":
		has := slices.ContainsFunc(m.Flags.Keywords, func(s string) bool { return strings.EqualFold(s, k.Value) })
		return has == (k.Key == "KEYWORD"), nil
	case "LARGER":
		return m.Size > int64(k.Num), nil
	case "SMALLER":
		return m.Size < int64(k.Num), nil
	case "UID", "SEQ":
		if k.Set.Saved {
			return e.c.sel.saved.Contains(m.UID), nil
		}
		if k.Key == "UID" {
			return e.c.sel.uids.uidsToSet(k.Set).Contains(m.UID), nil
		}
		return e.c.sel.uids.seqsToUIDs(k.Set).Contains(m.UID), nil
	case "MODSEQ":
		return uint64(m.ModSeq) >= k.Num, nil
	case "BEFORE", "ON", "SINCE":
		return dateMatch(k.Key, m.InternalDate, k.Date), nil
	case "SENTBEFORE", "SENTON", "SENTSINCE":
		return !e.parsed().SentDate.IsZero() && dateMatch(k.Key[4:], e.parsed().SentDate, k.Date), nil
	case "SAVEDBEFORE", "SAVEDON", "SAVEDSINCE":
		return dateMatch(k.Key[5:], m.SaveDate, k.Date), nil
	case "SAVEDATESUPPORTED":
		return true, nil
	case "OLDER":
		return e.now.Sub(m.InternalDate) >= time.Duration(k.Num)*time.Second, nil
	case "YOUNGER":
		return e.now.Sub(m.InternalDate) <= time.Duration(k.Num)*time.Second, nil
	case "FROM":
		return contains(e.parsed().From, k.Value), nil
	case "TO":
		return contains(e.parsed().To, k.Value), nil
	case "CC":
		return contains(e.parsed().Cc, k.Value), nil
	case "BCC":
		return contains(e.parsed().Bcc, k.Value), nil
	case "SUBJECT":
		return contains(e.parsed().Subject, k.Value), nil
	case "HEADER":
		return e.header(m, k.Field, k.Value)
	case "BODY":
		return e.body(m, k.Value)
	case "TEXT":
		if ok, err := e.header(m, "", k.Value); ok || err != nil {
			return ok, err
		}
		return e.body(m, k.Value)
	}
	return false, nil
}

// dateMatch compares dates disregarding time and timezone (RFC 9051
// §6.4.4): the day of t in its own zone against d.
func dateMatch(op string, t, d time.Time) bool {
	y, mo, da := t.Date()
	day := time.Date(y, mo, da, 0, 0, 0, 0, time.UTC)
	switch op {
	case "BEFORE":
		return day.Before(d)
	case "ON":
		return day.Equal(d)
	}
	return !day.Before(d)
}

// contains is the case-insensitive substring match of RFC 9051 §6.4.4.
func contains(s, sub string) bool {
	if sub == "" {
		return true
	}
	return strings.Contains(strings.ToLower(s), strings.ToLower(sub))
}

func (e *evaluator) open(m *store.Message) (store.MessageReader, error) {
	if e.rd == nil {
		// A message expunged by another session since it was listed is
		// still retained (RFC 2180 §4.3: it may match or not; it must
		// not fail the search).
		rd, err := e.c.srv.Store.OpenMessageWith(e.c.ctx, e.c.acct.ID, e.c.sel.mbox.ID, m.UID, store.OpenOptions{Retained: true})
		if err != nil {
			return nil, err
		}
		e.rd = rd
	}
	return e.rd, nil
}

// header matches HEADER field value (field "" = any field, for TEXT);
// values are unfolded and RFC 2047-decoded. An empty value matches any
// message with the field.
func (e *evaluator) header(m *store.Message, field, value string) (bool, error) {
	rd, err := e.open(m)
	if err != nil {
		return false, err
	}
	hdr := make([]byte, e.parsed().Body.HeaderSize())
	if _, err := rd.ReadAt(hdr, 0); err != nil && err != io.EOF {
		return false, err
	}
	for _, line := range bytes.Split(unfold(hdr), []byte("\r\n")) {
		name, val, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			continue
		}
		if field != "" && !strings.EqualFold(strings.TrimSpace(string(name)), field) {
			continue
		}
		if contains(message.DecodeHeader(strings.TrimSpace(string(val))), value) {
			return true, nil
		}
	}
	return false, nil
}

func unfold(h []byte) []byte {
	h = bytes.ReplaceAll(h, []byte("\r\n "), []byte(" "))
	return bytes.ReplaceAll(h, []byte("\r\n\t"), []byte(" "))
}

func (e *evaluator) body(m *store.Message, value string) (bool, error) {
	rd, err := e.open(m)
	if err != nil {
		return false, err
	}
	text, err := message.BodyText(rd, e.parsed(), bodySearchLimit)
	if err != nil {
		return false, err
	}
	return contains(text, value), nil
}
