package message

import (
	"bytes"
	"reflect"
	"strings"
	"testing"
)

func TestReadHeader(t *testing.T) {
	for _, tc := range []struct {
		name, msg              string
		err                    error
		fields                 int
		spaceBefore, malformed int
		from                   string
	}{
		{"plain", "From: a@b.c\r\nSubject: x\r\n\r\nbody\r\n", nil, 2, 0, 0, "a@b.c"},
		{"folded", "From:\r\n a@b.c\r\n\r\n", nil, 1, 0, 0, " a@b.c"[1:]},
		{"no body", "From: a@b.c\r\n", nil, 1, 0, 0, "a@b.c"},
		{"empty header", "\r\nbody", nil, 0, 0, 0, ""},
		{"obsolete blank", "From : a@b.c\r\n\r\n", nil, 1, 1, 0, "a@b.c"},
		{"no colon", "From a@b.c\r\n\r\n", nil, 1, 0, 1, ""},
		{"control in name", "X\x01: y\r\n\r\n", nil, 1, 0, 1, ""},
		{"too large", "X: " + strings.Repeat("a", DefaultMaxHeaderBytes) + "\r\n\r\n", ErrHeaderTooLarge, 0, 0, 0, ""},
		{"too folded", "X: a\r\n" + strings.Repeat(" a\r\n", DefaultMaxHeaderContinuations+1) + "\r\n", ErrHeaderTooFolded, 0, 0, 0, ""},
		{"large body", "X: a\r\n\r\n" + strings.Repeat("b", 2*DefaultMaxHeaderBytes), nil, 1, 0, 0, ""},
	} {
		h, err := ReadHeader([]byte(tc.msg), HeaderLimits{})
		if err != tc.err {
			t.Errorf("%s: err %v, want %v", tc.name, err, tc.err)
			continue
		}
		if err != nil {
			continue
		}
		sb, mf := 0, 0
		for _, f := range h.Fields {
			if f.SpaceBeforeColon {
				sb++
			}
			if f.Malformed {
				mf++
			}
		}
		from, _ := h.Get("from")
		if len(h.Fields) != tc.fields || sb != tc.spaceBefore || mf != tc.malformed || from != tc.from {
			t.Errorf("%s: %d fields, %d blank-before-colon, %d malformed, From %q", tc.name, len(h.Fields), sb, mf, from)
		}
	}
}

// FuzzReadHeader: ReadHeader never panics, its fields tile the header
// section, and its From is the one the store's parse keeps.
func FuzzReadHeader(f *testing.F) {
	addCorpusSeeds(f)
	f.Add([]byte("From : a@b.c\r\nFrom: d@e.f\r\n\r\n"))
	f.Add([]byte("From:\r\n\ta@b.c\r\n x\r\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		data = NormalizeCRLF(data)
		h, err := ReadHeader(data, HeaderLimits{MaxBytes: 4096, MaxContinuations: 50})
		if err != nil {
			return
		}
		var all []byte
		for _, fl := range h.Fields {
			all = append(all, fl.Raw...)
		}
		if !bytes.HasPrefix(data, all) || h.Size > len(data) || len(all) > h.Size {
			t.Fatalf("fields do not tile the header: %q, size %d", all, h.Size)
		}
		from, ok := h.Get("From")
		want := Parse(data).Envelope.From
		if got := ParseAddressList(from); ok && !reflect.DeepEqual(got, want) && (len(got) > 0 || len(want) > 0) {
			t.Fatalf("From %v, the store keeps %v", got, want)
		}
	})
}
