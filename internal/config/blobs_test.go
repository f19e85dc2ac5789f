package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestBlobsValidate(t *testing.T) {
	s3 := Blobs{Backend: "s3", Endpoint: "https://s3.example.com", Bucket: "mail", AccessKey: "AK", Secret: "SK"}
	tests := []struct {
		name    string
		store   string
		b       Blobs
		wantErr string // "" = valid
	}{
		{"sqlite default", "", Blobs{}, ""},
		{"sqlite files", "sqlite", Blobs{Backend: "files"}, ""},
		{"sqlite s3", "sqlite", s3, `only "files" is valid`},
		{"sqlite postgres", "", Blobs{Backend: "postgres"}, `only "files" is valid`},
		{"sqlite dir", "", Blobs{Backend: "files", Dir: "/x"}, "blobs.dir"},
		{"pg default", "postgres", Blobs{}, ""},
		{"pg postgres", "postgres", Blobs{Backend: "postgres"}, ""},
		{"pg files dir", "postgres", Blobs{Backend: "files", Dir: "/srv/blobs"}, ""},
		{"pg s3", "postgres", s3, ""},
		{"pg s3 secret file", "postgres", Blobs{Backend: "s3", Endpoint: "http://10.0.0.2:8333", Bucket: "b", AccessKey: "a", SecretFile: "/k", PathStyle: true}, ""},
		{"unknown", "postgres", Blobs{Backend: "nfs"}, `want "files", "postgres" or "s3"`},
		{"s3 no bucket", "postgres", Blobs{Backend: "s3", Endpoint: "https://e", AccessKey: "a", Secret: "s"}, "blobs.bucket must be set"},
		{"s3 no endpoint", "postgres", Blobs{Backend: "s3", Bucket: "b", AccessKey: "a", Secret: "s"}, "blobs.endpoint must be set"},
		{"s3 both secrets", "postgres", Blobs{Backend: "s3", Endpoint: "https://e", Bucket: "b", AccessKey: "a", Secret: "s", SecretFile: "/f"}, "one of secret and secret_file"},
		{"s3 no secret", "postgres", Blobs{Backend: "s3", Endpoint: "https://e", Bucket: "b", AccessKey: "a"}, "one of secret and secret_file"},
		{"s3 bad scheme", "postgres", Blobs{Backend: "s3", Endpoint: "ftp://e", Bucket: "b", AccessKey: "a", Secret: "s"}, "blobs.endpoint"},
		{"s3 key on postgres", "postgres", Blobs{Backend: "postgres", Bucket: "b"}, `blobs.bucket is for backend "s3"`},
		{"path_style on files", "postgres", Blobs{Backend: "files", PathStyle: true}, "blobs.path_style"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.b.Validate(tt.store)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("want valid, got %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("got %v, want an error containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestBlobsSecretFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "s3.key")
	if err := os.WriteFile(p, []byte("  s3cr3t \nignored\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	b := Blobs{SecretFile: p}
	got, err := b.SecretValue()
	if err != nil || got != "s3cr3t" {
		t.Fatalf("SecretValue = %q, %v", got, err)
	}
	os.WriteFile(p, []byte("\n"), 0o600)
	if _, err := b.SecretValue(); err == nil {
		t.Fatal("empty secret file accepted")
	}
	b = Blobs{Secret: "inline"}
	if got, _ := b.SecretValue(); got != "inline" {
		t.Fatalf("SecretValue = %q", got)
	}
}

func TestBlobBackendDefault(t *testing.T) {
	var c Config
	if got := c.BlobBackend(); got != "files" {
		t.Fatalf("sqlite default = %q", got)
	}
	c.Store.Backend = "postgres"
	if got := c.BlobBackend(); got != "postgres" {
		t.Fatalf("postgres default = %q", got)
	}
	c.Blobs.Backend = "s3"
	if got := c.BlobBackend(); got != "s3" {
		t.Fatalf("explicit = %q", got)
	}
}
