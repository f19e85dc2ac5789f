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
