package sieve

import (
	"strings"
	"testing"
)

// BenchmarkHostileStrings: strings made of "${" openings must cost time
// linear in their length, both for encoded-character at compile time and
// for variable expansion at every delivery.
func BenchmarkHostileStrings(b *testing.B) {
	b.Run("compile-encoded", func(b *testing.B) {
		src := `require ["encoded-character", "fileinto"]; fileinto "` + strings.Repeat("${hex:", 3000) + `}";`
		for b.Loop() {
			if _, err := Compile(src); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("run-expand", func(b *testing.B) {
		s, err := Compile(`require ["variables", "fileinto"]; fileinto "` + strings.Repeat("${", 10000) + `}";`)
		if err != nil {
			b.Fatal(err)
		}
		m, _ := NewMessage([]byte("From: a@b\r\n\r\n"), "a@b", "c@d")
		for b.Loop() {
			if _, err := s.Run(m, Options{}); err != nil {
				b.Fatal(err)
			}
		}
	})
}
