package server

import (
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// TestGoIMAPClient drives the server with go-imap's client, an independent
// implementation of the protocol, over implicit TLS.
func TestGoIMAPClient(t *testing.T) {
	ts := startServer(t, func(s *Server) { s.AllowPlaintextLoopback = false })
	ts.deliver(t, "INBOX", simpleMsg, 0)
	ts.deliver(t, "INBOX", multipartMsg, 0)

	exists := make(chan uint32, 10)
	c, err := imapclient.DialTLS(ts.tlsAddr, &imapclient.Options{
		TLSConfig: clientTLS(),
		UnilateralDataHandler: &imapclient.UnilateralDataHandler{
			Mailbox: func(d *imapclient.UnilateralDataMailbox) {
				if d.NumMessages != nil {
					exists <- *d.NumMessages
				}
			},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Login(testUser, testPassword).Wait(); err != nil {
		t.Fatal(err)
	}
	for _, capa := range []imap.Cap{imap.CapIMAP4rev1, imap.CapIdle, imap.CapMove, imap.CapUIDPlus, imap.CapSpecialUse, imap.CapESearch} {
		if !c.Caps().Has(capa) {
			t.Errorf("missing capability %s", capa)
		}
	}

	// go-imap v2 (beta.8) writes names in quoted UTF-8 as soon as the
	// server advertises IMAP4rev2, without ENABLE IMAP4rev2; youju, like
	// Dovecot, refuses 8-bit names until UTF-8 is enabled (RFC 6855 §3,
	// RFC 9051 §5.1), so the client enables UTF8=ACCEPT first.
	if _, err := c.Enable(imap.CapUTF8Accept).Wait(); err != nil {
		t.Fatal(err)
	}
	if err := c.Create("已发送/草稿", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	list, err := c.List("", "*", nil).Collect()
	if err != nil {
		t.Fatal(err)
	}
	names := map[string][]imap.MailboxAttr{}
	for _, l := range list {
		names[l.Mailbox] = l.Attrs
	}
	if _, ok := names["已发送/草稿"]; !ok {
		t.Fatalf("Chinese mailbox not listed: %v", names)
	}
	if attrs := names["Sent"]; !hasAttr(attrs, imap.MailboxAttrSent) {
		t.Fatalf("Sent attrs %v", attrs)
	}

	sel, err := c.Select("INBOX", nil).Wait()
	if err != nil {
		t.Fatal(err)
	}
	if sel.NumMessages != 2 || sel.UIDNext != 3 || sel.UIDValidity == 0 {
		t.Fatalf("select %+v", sel)
	}

	section := &imap.FetchItemBodySection{Part: []int{1}, Peek: true}
	msgs, err := c.Fetch(imap.SeqSetNum(2), &imap.FetchOptions{
		UID: true, Flags: true, Envelope: true, BodyStructure: &imap.FetchItemBodyStructure{Extended: true},
		RFC822Size: true, InternalDate: true, BodySection: []*imap.FetchItemBodySection{section},
	}).Collect()
	if err != nil {
		t.Fatal(err)
	}
	m := msgs[0]
	// go-imap has no GB2312 decoder: the raw subject is what IMAP sends.
	if m.UID != 2 || m.Envelope.Subject != "=?GB2312?B?xOO6ww==?=" || m.Envelope.From[0].Name != "张三" || m.Envelope.From[0].Addr() != "zhang@example.cn" {
		t.Fatalf("envelope %+v from %+v", m.Envelope, m.Envelope.From)
	}
	mp, ok := m.BodyStructure.(*imap.BodyStructureMultiPart)
	if !ok || mp.Subtype != "mixed" || len(mp.Children) != 2 {
		t.Fatalf("body structure %#v", m.BodyStructure)
	}
	if att := mp.Children[1].(*imap.BodyStructureSinglePart); att.Disposition().Value != "attachment" || att.Encoding != "BASE64" {
		t.Fatalf("attachment %#v", att)
	}
	if string(m.FindBodySection(section)) != "plain body" {
		t.Fatalf("section %q", m.FindBodySection(section))
	}

	// STORE, SEARCH (ESEARCH with go-imap's RETURN), MOVE.
	if err := c.Store(imap.SeqSetNum(1), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{imap.FlagFlagged}, Silent: true}, nil).Close(); err != nil {
		t.Fatal(err)
	}
	sd, err := c.UIDSearch(&imap.SearchCriteria{Flag: []imap.Flag{imap.FlagFlagged}}, nil).Wait()
	if err != nil {
		t.Fatal(err)
	}
	if uids := sd.AllUIDs(); len(uids) != 1 || uids[0] != 1 {
		t.Fatalf("search %v", uids)
	}
	sd, err = c.Search(&imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: "Subject", Value: "你好"}}}, nil).Wait()
	if err != nil || len(sd.AllSeqNums()) != 1 || sd.AllSeqNums()[0] != 2 {
		t.Fatalf("header search %v %v", sd, err)
	}
	md, err := c.Move(imap.UIDSetNum(1), "Archive").Wait()
	if err != nil || md.UIDValidity == 0 {
		t.Fatalf("move %+v %v", md, err)
	}

	// APPEND with APPENDUID.
	ac := c.Append("INBOX", int64(len(simpleMsg)), &imap.AppendOptions{Flags: []imap.Flag{imap.FlagSeen}})
	ac.Write([]byte(simpleMsg))
	ac.Close()
	ad, err := ac.Wait()
	if err != nil || ad.UID != 3 {
		t.Fatalf("append %+v %v", ad, err)
	}

	// IDLE announces a delivery.
	drain(exists)
	idle, err := c.Idle()
	if err != nil {
		t.Fatal(err)
	}
	ts.deliver(t, "INBOX", simpleMsg, 0)
	select {
	case n := <-exists:
		if n != 3 {
			t.Fatalf("EXISTS %d", n)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no EXISTS during IDLE")
	}
	if err := idle.Close(); err != nil {
		t.Fatal(err)
	}
	if err := idle.Wait(); err != nil {
		t.Fatal(err)
	}
	sdata, err := c.Status("Archive", &imap.StatusOptions{NumMessages: true, Size: true}).Wait()
	if err != nil || *sdata.NumMessages != 1 || *sdata.Size != int64(len(simpleMsg)) {
		t.Fatalf("status %+v %v", sdata, err)
	}
	if err := c.Logout().Wait(); err != nil && !strings.Contains(err.Error(), "closed") {
		t.Fatal(err)
	}
}

func hasAttr(attrs []imap.MailboxAttr, a imap.MailboxAttr) bool {
	for _, x := range attrs {
		if x == a {
			return true
		}
	}
	return false
}

func drain(ch chan uint32) {
	for {
		select {
		case <-ch:
		default:
			return
		}
	}
}
