package message

import (
	"strings"
	"testing"
)

// multipart10K is a ~10 KB multipart/mixed message with an alternative
// part and a base64 attachment.
func multipart10K() []byte {
	var b strings.Builder
	b.WriteString("Date: Wed, 25 Nov 2026 11:00:00 -0500\r\nFrom: Carol <carol@example.net>\r\n" +
		"To: dave@example.com, Erin <erin@example.com>\r\nSubject: =?UTF-8?B?5L2g5aW9?= report\r\n" +
		"Message-ID: <bench@example.net>\r\nMIME-Version: 1.0\r\n" +
		"Content-Type: multipart/mixed; boundary=\"outer\"\r\n\r\n--outer\r\n" +
		"Content-Type: multipart/alternative; boundary=\"alt\"\r\n\r\n--alt\r\n" +
		"Content-Type: text/plain; charset=utf-8\r\n\r\n")
	b.WriteString(strings.Repeat("Plain text line of the benchmark message body.\r\n", 40))
	b.WriteString("--alt\r\nContent-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n")
	b.WriteString(strings.Repeat("<p>HTML line of the benchmark message body.</p>\r\n", 40))
	b.WriteString("--alt--\r\n--outer\r\nContent-Type: application/pdf; name=\"a.pdf\"\r\n" +
		"Content-Disposition: attachment; filename=\"a.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\n")
	for b.Len() < 10000 {
		b.WriteString("JVBERi0xLjQKJWZha2UgcGRmIGZvciB0ZXN0cwolJUVPRgoJVBERi0xLjQKJWZha2UgcGRmIGZv\r\n")
	}
	b.WriteString("--outer--\r\n")
	return []byte(b.String())
}

func BenchmarkParse(b *testing.B) {
	data := multipart10K()
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		Parse(data)
	}
}

func BenchmarkUnmarshalInfo(b *testing.B) {
	enc := Parse(multipart10K()).Marshal()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := UnmarshalInfo(enc); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkMarshal(b *testing.B) {
	info := Parse(multipart10K())
	b.ReportAllocs()
	for b.Loop() {
		info.Marshal()
	}
}

// BenchmarkDecodeTransfer decodes 1 MB of quoted-printable (French text:
// escapes, soft breaks, trailing spaces) and of base64 in 76-character
// lines.
func BenchmarkDecodeTransfer(b *testing.B) {
	qp := []byte(strings.Repeat("Le caf=C3=A9 est pr=C3=AAt, la cr=C3=A8me aussi et le th=C3=A9 att=\r\nend  \r\n", 1<<20/80))
	b64 := []byte(strings.Repeat("JVBERi0xLjQKJWZha2UgcGRmIGZvciB0ZXN0cwolJUVPRgoJVBERi0xLjQKJWZha2UgcGRmIGZv\r\n", 1<<20/78))
	for _, c := range []struct {
		name, enc string
		data      []byte
	}{{"qp", "quoted-printable", qp}, {"base64", "base64", b64}} {
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(int64(len(c.data)))
			for i := 0; i < b.N; i++ {
				DecodeTransfer(c.enc, c.data)
			}
		})
	}
}
