// Package s3blobs keeps message bytes in S3-compatible object storage
// (AWS S3, SeaweedFS, MinIO, Ceph RGW, ...): one object per blob, written
// once, read with range GETs. It implements store.Blobs.
//
// It uses github.com/minio/minio-go/v7 rather than the AWS SDK v2: the
// three calls needed (PUT, ranged GET, DELETE) with SigV4, path-style
// addressing and any endpoint are all it offers, and its dependency tree
// is a dozen small modules where the SDK's is several dozen (smithy,
// per-service modules, endpoint rule engines) for the same three calls.
package s3blobs

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/youju/youju/internal/store"
)

// Config names the bucket and how to reach it.
type Config struct {
	// Endpoint is "https://host[:port]" or "http://host[:port]" (plain
	// HTTP only for a server on a private network or loopback); a bare
	// "host[:port]" means https.
	Endpoint  string
	Bucket    string
	AccessKey string
	Secret    string
	Region    string // "" = us-east-1 for signing
	// PathStyle addresses the bucket as endpoint/bucket/key rather than
	// bucket.endpoint/key (needed by most self-hosted servers).
	PathStyle bool
	// Prefix is put before every object name (e.g. "youju/").
	Prefix string
	// CreateBucket creates the bucket when it does not exist (tests,
	// first start); otherwise a missing bucket is an error.
	CreateBucket bool
	// Timeout bounds each request but the streamed read of a whole
	// object, which gets ReadTimeout (0 = 30 s and 10 min).
	Timeout     time.Duration
	ReadTimeout time.Duration
	// Transport is used for the HTTP requests (nil = a default one).
	Transport http.RoundTripper
}

// Store is a bucket of blobs. It implements store.Blobs.
type Store struct {
	c       *minio.Client
	bucket  string
	prefix  string
	timeout time.Duration
	readTO  time.Duration
}

var _ store.NamedBlobs = (*Store)(nil)

// Open connects to the endpoint and checks that the bucket exists (one
// request, so that a wrong endpoint, key or bucket fails at start, not at
// the first delivery).
func Open(ctx context.Context, cfg Config) (*Store, error) {
	host, secure, err := parseEndpoint(cfg.Endpoint)
	if err != nil {
		return nil, err
	}
	if cfg.Bucket == "" {
		return nil, errors.New("s3: no bucket")
	}
	lookup := minio.BucketLookupAuto
	if cfg.PathStyle {
		lookup = minio.BucketLookupPath
	}
	c, err := minio.New(host, &minio.Options{
		Creds:        credentials.NewStaticV4(cfg.AccessKey, cfg.Secret, ""),
		Secure:       secure,
		Region:       cfg.Region,
		BucketLookup: lookup,
		Transport:    cfg.Transport,
	})
	if err != nil {
		return nil, fmt.Errorf("s3: %w", err)
	}
	s := &Store{c: c, bucket: cfg.Bucket, prefix: cfg.Prefix, timeout: cfg.Timeout, readTO: cfg.ReadTimeout}
	if s.timeout <= 0 {
		s.timeout = 30 * time.Second
	}
	if s.readTO <= 0 {
		s.readTO = 10 * time.Minute
	}
	if err := s.checkBucket(ctx, cfg.CreateBucket, cfg.Region); err != nil {
		return nil, err
	}
	return s, nil
}

// parseEndpoint splits "scheme://host:port" into host and TLS.
func parseEndpoint(e string) (host string, secure bool, err error) {
	if e == "" {
		return "", false, errors.New("s3: no endpoint")
	}
	if !strings.Contains(e, "://") {
		return e, true, nil
	}
	u, err := url.Parse(e)
	if err != nil {
		return "", false, fmt.Errorf("s3: endpoint: %w", err)
	}
	if u.Host == "" {
		return "", false, fmt.Errorf("s3: endpoint %q: no host", e)
	}
	if u.Path != "" && u.Path != "/" {
		return "", false, fmt.Errorf("s3: endpoint %q: no path allowed (the bucket is set on its own)", e)
	}
	switch u.Scheme {
	case "https":
		return u.Host, true, nil
	case "http":
		return u.Host, false, nil
	}
	return "", false, fmt.Errorf("s3: endpoint %q: scheme must be http or https", e)
}

func (s *Store) checkBucket(ctx context.Context, create bool, region string) error {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	ok, err := s.c.BucketExists(ctx, s.bucket)
	if err != nil {
		return fmt.Errorf("s3: bucket %q: %w", s.bucket, err)
	}
	if ok {
		return nil
	}
	if !create {
		return fmt.Errorf("s3: bucket %q does not exist", s.bucket)
	}
	if err := s.c.MakeBucket(ctx, s.bucket, minio.MakeBucketOptions{Region: region}); err != nil {
		return fmt.Errorf("s3: creating bucket %q: %w", s.bucket, err)
	}
	return nil
}

// Ping checks that the bucket is reachable (youju config check).
func (s *Store) Ping(ctx context.Context) error {
	return s.checkBucket(ctx, false, "")
}

// Put implements store.Blobs. The object name is random (128 bits): two
// nodes never pick the same one, and no listing is needed to choose it.
// S3 answers a PUT only once the object is durably stored.
func (s *Store) Put(ctx context.Context, r io.Reader, size int64) (string, error) {
	key := s.NewID()
	if err := s.PutID(ctx, key, r, size); err != nil {
		return "", err
	}
	return key, nil
}

// NewID implements store.NamedBlobs: the prefix and 128 random bits.
func (s *Store) NewID() string {
	var b [16]byte
	rand.Read(b[:])
	return s.prefix + hex.EncodeToString(b[:])
}

// PutID implements store.NamedBlobs.
func (s *Store) PutID(ctx context.Context, key string, r io.Reader, size int64) error {
	if size < 0 {
		return errors.New("s3: put of unknown size")
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout+time.Duration(size>>20)*time.Second)
	defer cancel()
	info, err := s.c.PutObject(ctx, s.bucket, key, r, size, minio.PutObjectOptions{ContentType: "message/rfc822"})
	if err != nil {
		return fmt.Errorf("s3: put: %w", err)
	}
	if info.Size != size {
		return fmt.Errorf("s3: put stored %d bytes of %d", info.Size, size)
	}
	return nil
}

// Delete implements store.Blobs; a missing object is not an error (S3's
// DELETE is idempotent).
func (s *Store) Delete(ctx context.Context, id string) error {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	if err := s.c.RemoveObject(ctx, s.bucket, id, minio.RemoveObjectOptions{}); err != nil {
		if minio.ToErrorResponse(err).Code == "NoSuchKey" {
			return nil
		}
		return fmt.Errorf("s3: delete: %w", err)
	}
	return nil
}

// Open implements store.Blobs. With size known nothing is requested
// until the first read.
func (s *Store) Open(ctx context.Context, id string, size int64) (store.MessageReader, error) {
	if size < 0 {
		sctx, cancel := context.WithTimeout(ctx, s.timeout)
		info, err := s.c.StatObject(sctx, s.bucket, id, minio.StatObjectOptions{})
		cancel()
		if err != nil {
			return nil, s.notFound(id, err)
		}
		size = info.Size
	}
	return &reader{s: s, ctx: ctx, id: id, size: size, next: -1}, nil
}

func (s *Store) notFound(id string, err error) error {
	if minio.ToErrorResponse(err).Code == "NoSuchKey" {
		return fmt.Errorf("s3: blob %s: %w", id, store.ErrNotFound)
	}
	return fmt.Errorf("s3: blob %s: %w", id, err)
}

// reader reads one object: Read streams the rest of the object from one
// GET, ReadAt sends a range GET for exactly the bytes asked for.
type reader struct {
	s    *Store
	ctx  context.Context
	id   string
	size int64

	pos    int64
	body   io.ReadCloser
	cancel context.CancelFunc

	blk   []byte // bytes at blkAt, the last range ReadAt fetched
	blkAt int64
	next  int64 // where the previous ReadAt ended
}

// Size implements store.MessageReader.
func (r *reader) Size() int64 { return r.size }

// Read implements io.Reader.
func (r *reader) Read(p []byte) (int, error) {
	if r.pos >= r.size {
		return 0, io.EOF
	}
	if r.body == nil {
		ctx, cancel := context.WithTimeout(r.ctx, r.s.readTO)
		body, err := r.get(ctx, r.pos, r.size)
		if err != nil {
			cancel()
			return 0, err
		}
		r.body, r.cancel = body, cancel
	}
	if int64(len(p)) > r.size-r.pos {
		p = p[:r.size-r.pos]
	}
	n, err := r.body.Read(p)
	r.pos += int64(n)
	if err == io.EOF && r.pos < r.size {
		err = fmt.Errorf("s3: blob %s: short object (%d of %d bytes)", r.id, r.pos, r.size)
	} else if err == io.EOF {
		err = nil
	} else if err != nil {
		err = r.s.notFound(r.id, err)
	}
	return n, err
}

// get opens a GET of bytes [off, end).
func (r *reader) get(ctx context.Context, off, end int64) (io.ReadCloser, error) {
	var opt minio.GetObjectOptions
	if off > 0 || end < r.size {
		// HTTP ranges are inclusive (RFC 9110 §14.1.2).
		if err := opt.SetRange(off, end-1); err != nil {
			return nil, err
		}
	}
	o, err := r.s.c.GetObject(ctx, r.s.bucket, r.id, opt)
	if err != nil {
		return nil, r.s.notFound(r.id, err)
	}
	return o, nil
}

// readAhead is how much a ReadAt that continues the previous one fetches
// at once: a reader that walks a message in small steps (a 32 KiB copy
// buffer) costs one request per MiB, not one per step, while a first,
// isolated ReadAt (a partial FETCH) fetches exactly its range.
const readAhead = 1 << 20

// ReadAt implements io.ReaderAt. It keeps the last range it fetched, so
// that reading a range twice (checking a section for NUL, then sending
// it) costs one request.
func (r *reader) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, errors.New("s3: negative offset")
	}
	if off >= r.size {
		return 0, io.EOF
	}
	end := min(off+int64(len(p)), r.size)
	if off < r.blkAt || end > r.blkAt+int64(len(r.blk)) {
		fetchEnd := end
		if off == r.next {
			fetchEnd = min(max(end, off+readAhead), r.size)
		}
		if err := r.fetch(off, fetchEnd); err != nil {
			return 0, err
		}
	}
	r.next = end
	n := copy(p, r.blk[off-r.blkAt:end-r.blkAt])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// fetch reads bytes [off, end) into blk with one range GET.
func (r *reader) fetch(off, end int64) error {
	ctx, cancel := context.WithTimeout(r.ctx, r.s.timeout+time.Duration((end-off)>>20)*time.Second)
	defer cancel()
	body, err := r.get(ctx, off, end)
	if err != nil {
		return err
	}
	defer body.Close()
	if int64(cap(r.blk)) < end-off {
		r.blk = make([]byte, end-off)
	}
	r.blk, r.blkAt = r.blk[:end-off], off
	n, err := io.ReadFull(body, r.blk)
	if err != nil {
		r.blk = r.blk[:0]
		if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
			return fmt.Errorf("s3: blob %s: short range read (%d of %d bytes)", r.id, n, end-off)
		}
		return r.s.notFound(r.id, err)
	}
	return nil
}

// Close implements io.Closer.
func (r *reader) Close() error {
	r.blk = nil
	if r.body != nil {
		r.body.Close()
		r.cancel()
		r.body = nil
	}
	return nil
}
