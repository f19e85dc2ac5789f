package message

import (
	"bytes"
	"encoding/base64"
	"mime/quotedprintable"
	"os"
	"path/filepath"
	"testing"
	"unicode/utf8"
)

func addCorpusSeeds(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.eml")
	for _, name := range files {
		if b, err := os.ReadFile(name); err == nil {
			f.Add(NormalizeCRLF(b))
		}
	}
	f.Add([]byte("Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n--b--"))
	f.Add([]byte("Content-Type: message/rfc822\r\n\r\nContent-Type: message/rfc822\r\n\r\n"))
}

// FuzzParse: Parse must not panic, its offsets must hold, and the Info
// must survive Marshal/UnmarshalInfo unchanged.
func FuzzParse(f *testing.F) {
	addCorpusSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		data = NormalizeCRLF(data)
		info := Parse(data)
		checkOffsets(t, data, info)
		checkRoundTrip(t, info)
		if _, err := BodyText(bytes.NewReader(data), info, 1<<16); err != nil {
			t.Fatal(err)
		}
	})
}

// FuzzParseExact: messages appended as literal8 (RFC 3516 §4.4) are
// parsed as they are, bare LF, bare CR and NUL included; Parse must hold
// its offsets on those too.
func FuzzParseExact(f *testing.F) {
	addCorpusSeeds(f)
	f.Add([]byte("Subject: x\nContent-Type: multipart/mixed; boundary=b\n\n--b\n\na\x00\r--b--\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		info := Parse(data)
		checkOffsets(t, data, info)
		checkRoundTrip(t, info)
		if _, err := BodyText(bytes.NewReader(data), info, 1<<16); err != nil {
			t.Fatal(err)
		}
	})
}

// FuzzUnmarshalInfo: garbage must give an error, never a panic; what
// decodes must re-encode to the same bytes.
func FuzzUnmarshalInfo(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.eml")
	for _, name := range files {
		if b, err := os.ReadFile(name); err == nil {
			f.Add(Parse(NormalizeCRLF(b)).Marshal())
		}
	}
	f.Add([]byte("YI\x01"))
	f.Fuzz(func(t *testing.T, b []byte) {
		info, err := UnmarshalInfo(b)
		if err != nil {
			return
		}
		if !bytes.Equal(info.Marshal(), b) {
			// Varints have several encodings; the decoded value must
			// at least be stable.
			again, err := UnmarshalInfo(info.Marshal())
			if err != nil || !bytes.Equal(again.Marshal(), info.Marshal()) {
				t.Fatalf("unstable round trip: %v", err)
			}
		}
	})
}

// FuzzDecodeHeader: always valid UTF-8, never a panic.
func FuzzDecodeHeader(f *testing.F) {
	for _, s := range []string{"=?UTF-8?B?5L2g5aW9?=", "=?gb2312?Q?=C4=E3?= x", "=?iso-2022-jp?B?GyRCMnFEOxsoQg==?=",
		"=??=", "=?x?b?", "=?utf-8?q?=?=", "\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if out := DecodeHeader(s); !utf8.ValidString(out) {
			t.Fatalf("DecodeHeader(%q) = %q: invalid UTF-8", s, out)
		}
	})
}

// FuzzAddressList: no panic, and no address with an empty host except
// balanced group markers (IMAP relies on that, RFC 9051 §7.5.2).
func FuzzAddressList(f *testing.F) {
	for _, s := range []string{"a@b", "A <a@b>, G: c@d;", "<@r,@s:x@y>", `"q"@x (c)`, "a:b:c;;<<>>@@", "(((", "\"\\"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		list := ParseAddressList(s)
		open := false
		for _, a := range list {
			switch {
			case a.Host != "":
			case a.Mailbox != "":
				if open {
					t.Fatalf("%q: nested group start in %+v", s, list)
				}
				open = true
			default:
				if !open {
					t.Fatalf("%q: group end without start in %+v", s, list)
				}
				open = false
			}
		}
		if open {
			t.Fatalf("%q: unterminated group in %+v", s, list)
		}
		_ = FormatAddresses(list)
	})
}

// FuzzDecodeTransfer: decoding never panics and never grows the data;
// whatever mime/quotedprintable and encoding/base64 encode, DecodeTransfer
// decodes back to the original octets.
func FuzzDecodeTransfer(f *testing.F) {
	f.Add([]byte("a=3Db=\r\nc  \r\n=ZZ\n=\t\n"), []byte("\x00\xff text \r\n"))
	f.Add([]byte("SGVs bG8=\r\n"), []byte("trailing space \r\nand tab\t"))
	f.Fuzz(func(t *testing.T, encoded, plain []byte) {
		for _, enc := range []string{"base64", "quoted-printable", "7bit"} {
			if out := DecodeTransfer(enc, encoded); len(out) > len(encoded) {
				t.Fatalf("%s: %d octets from %d", enc, len(out), len(encoded))
			}
		}
		var qp bytes.Buffer
		w := quotedprintable.NewWriter(&qp)
		w.Binary = true // every CR and LF encoded: the octets survive exactly
		w.Write(plain)
		w.Close()
		if got := DecodeTransfer("quoted-printable", qp.Bytes()); !bytes.Equal(got, plain) {
			t.Fatalf("QP round trip: %q -> %q -> %q", plain, qp.Bytes(), got)
		}
		b64 := base64.StdEncoding.EncodeToString(plain)
		var folded []byte
		for len(b64) > 76 { // RFC 2045 §6.8: lines of at most 76 characters
			folded = append(append(folded, b64[:76]...), "\r\n"...)
			b64 = b64[76:]
		}
		folded = append(folded, b64...)
		if got := DecodeTransfer("base64", folded); !bytes.Equal(got, plain) {
			t.Fatalf("base64 round trip: %q -> %q", plain, got)
		}
	})
}

// FuzzNormalizeCRLF compares NormalizeCRLF with the obvious byte loop:
// every CR and LF not in a CRLF pair becomes CRLF; input already in that
// form comes back unchanged and uncopied.
func FuzzNormalizeCRLF(f *testing.F) {
	for _, s := range []string{"", "a\r\nb\r\n", "a\nb", "a\rb", "\r", "\n", "\r\r\n", "x\r\n\n\r", "ab\r"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var want []byte
		for i := 0; i < len(data); i++ {
			switch {
			case data[i] == '\r' && i+1 < len(data) && data[i+1] == '\n':
				want = append(want, '\r', '\n')
				i++
			case data[i] == '\r' || data[i] == '\n':
				want = append(want, '\r', '\n')
			default:
				want = append(want, data[i])
			}
		}
		got := NormalizeCRLF(data)
		if !bytes.Equal(got, want) {
			t.Fatalf("NormalizeCRLF(%q) = %q, want %q", data, got, want)
		}
		if len(data) > 0 && bytes.Equal(data, want) && &got[0] != &data[0] {
			t.Fatalf("NormalizeCRLF(%q) copied data already in CRLF form", data)
		}
	})
}

func FuzzIsCRLF(f *testing.F) {
	for _, s := range []string{"", "a\r\nb\r\n", "a\nb", "a\rb", "\r", "\n", "\r\n\r", "x\r\r\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if got, want := IsCRLF(b), bytes.Equal(NormalizeCRLF(b), b); got != want {
			t.Fatalf("IsCRLF(%q) = %v, want %v", b, got, want)
		}
	})
}
