package message

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// TestEnvelopeDecoder decodes the envelope of every corpus message alone
// and compares it with the full decode, reusing one decoder (its address
// buffer must not leak one message's addresses into the next).
func TestEnvelopeDecoder(t *testing.T) {
	files, _ := filepath.Glob("testdata/*.eml")
	if len(files) == 0 {
		t.Fatal("no corpus")
	}
	var ed EnvelopeDecoder
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		enc := Parse(NormalizeCRLF(b)).Marshal()
		full, err := UnmarshalInfo(enc)
		if err != nil {
			t.Fatal(name, err)
		}
		var e Envelope
		if err := ed.Decode(enc, &e); err != nil {
			t.Fatal(name, err)
		}
		if !reflect.DeepEqual(e, full.Envelope) {
			t.Errorf("%s:\n got %+v\nwant %+v", name, e, full.Envelope)
		}
	}
	for _, bad := range []string{"", "YI", "XI\x01", "YI\x09", "YI\x01\x00\x00\xff", "YI\x01\x00\x00\x01\x00\x00\x02\x00\x00\x05"} {
		var e Envelope
		if err := ed.Decode([]byte(bad), &e); err == nil {
			t.Errorf("Decode(%q) succeeded", bad)
		}
	}
}

// FuzzEnvelopeDecoder: garbage gives an error, never a panic; what
// UnmarshalInfo accepts decodes to the same envelope.
func FuzzEnvelopeDecoder(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.eml")
	for _, name := range files {
		if b, err := os.ReadFile(name); err == nil {
			f.Add(Parse(NormalizeCRLF(b)).Marshal())
		}
	}
	f.Add([]byte("YI\x01"))
	f.Fuzz(func(t *testing.T, b []byte) {
		var ed EnvelopeDecoder
		var e Envelope
		err := ed.Decode(b, &e)
		info, ierr := UnmarshalInfo(b)
		if ierr != nil {
			return
		}
		if err != nil || !reflect.DeepEqual(e, info.Envelope) {
			t.Fatalf("envelope %+v (%v), full decode %+v", e, err, info.Envelope)
		}
	})
}
