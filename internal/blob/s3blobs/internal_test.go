package s3blobs

import (
	"strings"
	"testing"
)

func TestParseEndpoint(t *testing.T) {
	for _, c := range []struct {
		in     string
		host   string
		secure bool
		ok     bool
	}{
		{"s3.example.com", "s3.example.com", true, true},
		{"https://s3.example.com:9000", "s3.example.com:9000", true, true},
		{"http://127.0.0.1:8333", "127.0.0.1:8333", false, true},
		{"http://127.0.0.1:8333/", "127.0.0.1:8333", false, true},
		{"http://h/bucket", "", false, false},
		{"ftp://h", "", false, false},
		{"", "", false, false},
	} {
		host, secure, err := parseEndpoint(c.in)
		if (err == nil) != c.ok || host != c.host || secure != c.secure {
			t.Errorf("parseEndpoint(%q) = %q, %v, %v", c.in, host, secure, err)
		}
	}
}

// FuzzParseEndpoint checks that parseEndpoint never panics and that a
// host it returns has no path or scheme left in it.
func FuzzParseEndpoint(f *testing.F) {
	for _, s := range []string{"https://s3.example.com", "http://127.0.0.1:8333/", "h", "://", "http://h/b", "https://[::1]:9000"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, e string) {
		host, _, err := parseEndpoint(e)
		if err == nil && (host == "" && strings.Contains(e, "://") || strings.Contains(host, "://")) {
			t.Fatalf("parseEndpoint(%q) = host %q", e, host)
		}
	})
}
