package message

import (
	"encoding/binary"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestNextMsgID(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"<a@b>", []string{"a@b"}},
		{"  <a@b>  <c@d>", []string{"a@b", "c@d"}},
		// RFC 5256 §3: quoting must not make two identifiers differ.
		{`<"01KF8JCEOCBS0045PS"@xxx.yyy.com>`, []string{"01KF8JCEOCBS0045PS@xxx.yyy.com"}},
		{`<"a b\"c"@x>`, []string{`a b"c@x`}},
		// Obsolete forms (RFC 5322 §4.5.4): CFWS inside.
		{"<a (comment) . b @ x.y>", []string{"a.b@x.y"}},
		{"<a@[1.2.3.4]>", []string{"a@[1.2.3.4]"}},
		// Case is significant (RFC 5256 §3 note).
		{"<A@B> <a@b>", []string{"A@B", "a@b"}},
		// Prose around identifiers, as In-Reply-To often has.
		{"Your message of Mon, 1 Jan <x@y> (sent by <joe@z>)", []string{"x@y", "joe@z"}},
		{"<not-an-id> <x@y>", []string{"x@y"}},
		{"<@x> <x@> <x@y>", []string{"x@y"}},
		{"<<x@y>", []string{"x@y"}},
		{"<x@y", nil},
		{"", nil},
		{"no ids here", nil},
		{"<a\r\n @b>", []string{"a@b"}},
	}
	for _, tc := range tests {
		var got []string
		s := tc.in
		for {
			id, rest, ok := NextMsgID(s)
			if !ok {
				break
			}
			got = append(got, id)
			s = rest
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("NextMsgID(%q): %q, want %q", tc.in, got, tc.want)
		}
	}
	if got := FirstMsgID("junk <x@y> <z@w>"); got != "x@y" {
		t.Errorf("FirstMsgID: %q", got)
	}
}

func TestParseReferencesBounded(t *testing.T) {
	var b strings.Builder
	for i := 0; i < 120; i++ {
		fmt.Fprintf(&b, " <%d@x>", i)
	}
	got := ParseReferences(b.String())
	if len(got) != MaxReferences {
		t.Fatalf("%d references kept", len(got))
	}
	// The first, then the newest ones (RFC 5537 §3.4.4 truncation).
	if got[0] != "0@x" || got[1] != fmt.Sprintf("%d@x", 120-MaxReferences+1) || got[len(got)-1] != "119@x" {
		t.Fatalf("kept %v", got)
	}
	if ParseReferences("") != nil || ParseReferences("garbage") != nil {
		t.Fatal("references from nothing")
	}
}

func TestParseStoresReferences(t *testing.T) {
	msg := "Message-ID: <m@x>\r\nReferences: <a@x>\r\n <\"b\"@x> (c)\r\nIn-Reply-To: <b@x>\r\nSubject: hi\r\n\r\nbody\r\n"
	info := Parse([]byte(msg))
	if want := []string{"a@x", "b@x"}; !reflect.DeepEqual(info.References, want) {
		t.Fatalf("References %q, want %q", info.References, want)
	}
	if got := HeaderReferences([]byte(msg)); !reflect.DeepEqual(got, info.References) {
		t.Fatalf("HeaderReferences %q", got)
	}
	back, err := UnmarshalInfo(info.Marshal())
	if err != nil || !reflect.DeepEqual(back.References, info.References) {
		t.Fatalf("round trip: %v %q", err, back.References)
	}
	var td ThreadDecoder
	var tf ThreadFields
	if err := td.Decode(info.Marshal(), &tf); err != nil {
		t.Fatal(err)
	}
	want := ThreadFields{MessageID: "<m@x>", InReplyTo: "<b@x>", Subject: "hi", References: []string{"a@x", "b@x"}, HasReferences: true}
	if !reflect.DeepEqual(tf, want) {
		t.Fatalf("ThreadFields %+v, want %+v", tf, want)
	}
}

// marshalV1 writes an Info in the first codec version (no References,
// Body before SentDate), as stored before References were added.
func marshalV1(info *Info) []byte {
	b := []byte{codecMagic0, codecMagic1, codecV1}
	var c slabCounts
	c.envelope(&info.Envelope)
	c.part(&info.Body)
	for _, n := range []int{c.parts, c.params, c.addrs, c.langs, c.envs} {
		b = binary.AppendUvarint(b, uint64(n))
	}
	b = binary.AppendVarint(b, info.Size)
	b = appendEnvelope(b, &info.Envelope)
	b = appendPart(b, &info.Body)
	b = appendTime(b, info.SentDate)
	for _, s := range []string{info.Subject, info.From, info.To, info.Cc, info.Bcc} {
		b = appendString(b, s)
	}
	return b
}

// TestCodecV1StillDecodes: Infos stored before References decode as
// before, with References empty, and ThreadDecoder says so.
func TestCodecV1StillDecodes(t *testing.T) {
	for _, name := range corpus(t) {
		data := loadMessage(t, name)
		info := Parse(data)
		old := marshalV1(info)
		back, err := UnmarshalInfo(old)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if back.References != nil {
			t.Fatalf("%s: v1 references %q", name, back.References)
		}
		back.References = info.References
		if !reflect.DeepEqual(back.Marshal(), info.Marshal()) {
			t.Fatalf("%s: v1 decodes differently", name)
		}
		var env Envelope
		if err := new(EnvelopeDecoder).Decode(old, &env); err != nil || env.MessageID != info.Envelope.MessageID {
			t.Fatalf("%s: envelope of v1: %v", name, err)
		}
		var tf ThreadFields
		if err := new(ThreadDecoder).Decode(old, &tf); err != nil {
			t.Fatal(err)
		}
		if tf.HasReferences || tf.Subject != info.Subject || !tf.SentDate.Equal(info.SentDate) || tf.MessageID != info.Envelope.MessageID {
			t.Fatalf("%s: v1 thread fields %+v", name, tf)
		}
	}
}

func TestThreadDecoderMatchesUnmarshal(t *testing.T) {
	for _, name := range corpus(t) {
		info := Parse(loadMessage(t, name))
		info.References = []string{"r1@x", "r2@y"}
		info.SentDate = time.Date(2024, 5, 6, 7, 8, 9, 10, time.FixedZone("", 8*3600))
		var tf ThreadFields
		if err := new(ThreadDecoder).Decode(info.Marshal(), &tf); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if tf.MessageID != info.Envelope.MessageID || tf.InReplyTo != info.Envelope.InReplyTo ||
			tf.Subject != info.Subject || !tf.SentDate.Equal(info.SentDate) ||
			!reflect.DeepEqual(tf.References, info.References) || !tf.HasReferences {
			t.Fatalf("%s: %+v", name, tf)
		}
	}
	var tf ThreadFields
	for _, bad := range []string{"", "YI", "YI\x09", "YI\x02\x00", "YI\x01\x00"} {
		if err := new(ThreadDecoder).Decode([]byte(bad), &tf); err == nil {
			t.Errorf("Decode(%q) succeeded", bad)
		}
	}
}

// FuzzNextMsgID: any input yields valid identifiers and progress.
func FuzzNextMsgID(f *testing.F) {
	for _, s := range []string{"<a@b>", `<"x y"@z> <(c)a@b>`, "<<<@>", "prose <x@y"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for n := 0; ; n++ {
			id, rest, ok := NextMsgID(s)
			if !ok {
				break
			}
			if !validMsgID(id) || len(rest) >= len(s) {
				t.Fatalf("NextMsgID(%q) = %q, rest %q", s, id, rest)
			}
			s = rest
		}
		if refs := ParseReferences(s); len(refs) > MaxReferences {
			t.Fatal("unbounded references")
		}
	})
}

// FuzzThreadDecoder: garbage gives an error, never a panic.
func FuzzThreadDecoder(f *testing.F) {
	f.Add(Parse([]byte("Subject: x\r\nReferences: <a@b>\r\n\r\n")).Marshal())
	f.Add(marshalV1(Parse([]byte("Subject: x\r\n\r\n"))))
	f.Fuzz(func(t *testing.T, b []byte) {
		var tf ThreadFields
		_ = new(ThreadDecoder).Decode(b, &tf)
	})
}
