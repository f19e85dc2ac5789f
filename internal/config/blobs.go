package config

import (
	"fmt"
	"os"
	"strings"
)

// Blobs chooses where message bytes live, apart from the index:
//
//   - "files": in the data directory. For the sqlite store this is its own
//     segment log (the only choice there, and the default); for the
//     postgres store, one file per message under Dir (a directory all
//     nodes share, or a single node).
//   - "postgres": as chunk rows in the store's database, written in the
//     same transaction as the index (the default for the postgres store:
//     a cluster needs nothing but PostgreSQL).
//   - "s3": one object per message in an S3-compatible bucket.
type Blobs struct {
	Backend string `toml:"backend"`
	// Dir is the directory of backend "files" with the postgres store
	// ("" = DATA/blobs).
	Dir string `toml:"dir"`
	// S3: Endpoint is "https://host[:port]" (or http:// on a private
	// network); Secret or SecretFile (a file holding it, so that the
	// config can be shown) is the secret access key.
	Endpoint   string `toml:"endpoint"`
	Bucket     string `toml:"bucket"`
	AccessKey  string `toml:"access_key"`
	Secret     string `toml:"secret"`
	SecretFile string `toml:"secret_file"`
	Region     string `toml:"region"`
	// PathStyle addresses the bucket as endpoint/bucket (most self-hosted
	// servers: SeaweedFS, MinIO, Ceph) rather than bucket.endpoint.
	PathStyle bool `toml:"path_style"`
	// Prefix is put before every object name.
	Prefix string `toml:"prefix"`
}

// BlobBackend returns the blob backend in effect for the store backend:
// Backend, or the store's default when it is empty.
func (c *Config) BlobBackend() string {
	if c.Blobs.Backend != "" {
		return c.Blobs.Backend
	}
	if c.Store.Postgres() {
		return "postgres"
	}
	return "files"
}

// Validate checks the blob settings against the store backend
// ("" or "sqlite", "postgres"); errors name the key.
func (b *Blobs) Validate(storeBackend string) error {
	pg := storeBackend == "postgres"
	switch b.Backend {
	case "", "files":
	case "postgres", "s3":
		if !pg {
			return fmt.Errorf("blobs.backend %q: the sqlite store keeps messages in its own files in the data directory, so only \"files\" is valid with it; %q needs [store] backend = \"postgres\"", b.Backend, b.Backend)
		}
	default:
		return fmt.Errorf("blobs.backend %q: want \"files\", \"postgres\" or \"s3\"", b.Backend)
	}
	if b.Dir != "" && (b.Backend != "files" || !pg) {
		return fmt.Errorf("blobs.dir is for backend \"files\" with [store] backend = \"postgres\" (the sqlite store's files are in the data directory)")
	}
	s3 := map[string]string{"endpoint": b.Endpoint, "bucket": b.Bucket, "access_key": b.AccessKey,
		"secret": b.Secret, "secret_file": b.SecretFile, "region": b.Region, "prefix": b.Prefix}
	if b.Backend != "s3" {
		for k, v := range s3 {
			if v != "" {
				return fmt.Errorf("blobs.%s is for backend \"s3\", not %q", k, b.Backend)
			}
		}
		if b.PathStyle {
			return fmt.Errorf("blobs.path_style is for backend \"s3\", not %q", b.Backend)
		}
		return nil
	}
	for _, k := range []string{"endpoint", "bucket", "access_key"} {
		if strings.TrimSpace(s3[k]) == "" {
			return fmt.Errorf("blobs.%s must be set for backend \"s3\"", k)
		}
	}
	if e := b.Endpoint; strings.Contains(e, "://") && !strings.HasPrefix(e, "https://") && !strings.HasPrefix(e, "http://") {
		return fmt.Errorf("blobs.endpoint %q: want https://host[:port] (or http:// on a private network)", e)
	}
	if (b.Secret == "") == (b.SecretFile == "") {
		return fmt.Errorf("blobs: set one of secret and secret_file for backend \"s3\"")
	}
	return nil
}

// SecretValue returns the S3 secret: Secret, or the first line of
// SecretFile.
func (b *Blobs) SecretValue() (string, error) {
	if b.SecretFile == "" {
		return b.Secret, nil
	}
	data, err := os.ReadFile(b.SecretFile)
	if err != nil {
		return "", fmt.Errorf("blobs.secret_file: %w", err)
	}
	s, _, _ := strings.Cut(string(data), "\n")
	s = strings.TrimSpace(s)
	if s == "" {
		return "", fmt.Errorf("blobs.secret_file %s is empty", b.SecretFile)
	}
	return s, nil
}
