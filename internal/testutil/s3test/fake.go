package s3test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// Fake is a minimal in-process S3 server (path style, no signature
// check) for fast tests: buckets, PUT/GET (with Range)/HEAD/DELETE of
// objects. It counts the object bytes it sends, so that a test can prove
// a range read fetched only its range. The real-server tests use
// SeaweedFS (s3test).
type Fake struct {
	mu      sync.Mutex
	buckets map[string]map[string][]byte
	// Sent counts the object bytes sent (GET bodies).
	Sent atomic.Int64
	// Gets counts the GET requests of objects.
	Gets atomic.Int64
}

// NewFake starts a Fake on 127.0.0.1, stopped when t ends, and returns
// it and its endpoint URL.
func NewFake(t testing.TB) (*Fake, string) {
	f := &Fake{buckets: map[string]map[string][]byte{}}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return f, srv.URL
}

func (f *Fake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	path := strings.TrimPrefix(r.URL.Path, "/")
	bucket, key, _ := strings.Cut(path, "/")
	f.mu.Lock()
	defer f.mu.Unlock()
	objs, ok := f.buckets[bucket]
	if key == "" {
		switch {
		case r.URL.Query().Has("location"):
			fmt.Fprint(w, `<?xml version="1.0" encoding="UTF-8"?><LocationConstraint xmlns="http://s3.amazonaws.com/doc/2006-03-01/">us-east-1</LocationConstraint>`)
		case r.Method == http.MethodPut:
			if !ok {
				f.buckets[bucket] = map[string][]byte{}
			}
		case r.Method == http.MethodHead && !ok:
			w.WriteHeader(http.StatusNotFound)
		}
		return
	}
	if !ok {
		s3Error(w, http.StatusNotFound, "NoSuchBucket")
		return
	}
	switch r.Method {
	case http.MethodPut:
		b, err := io.ReadAll(r.Body)
		if err == nil && strings.HasPrefix(r.Header.Get("X-Amz-Content-Sha256"), "STREAMING-") {
			b, err = decodeAWSChunked(b)
		}
		want, _ := strconv.Atoi(r.Header.Get("X-Amz-Decoded-Content-Length"))
		if err != nil || want == 0 && int64(len(b)) != r.ContentLength || want > 0 && len(b) != want {
			s3Error(w, http.StatusBadRequest, "IncompleteBody")
			return
		}
		objs[key] = b
		w.Header().Set("ETag", `"x"`)
	case http.MethodDelete:
		delete(objs, key)
		w.WriteHeader(http.StatusNoContent)
	case http.MethodGet, http.MethodHead:
		b, ok := objs[key]
		if !ok {
			s3Error(w, http.StatusNotFound, "NoSuchKey")
			return
		}
		w.Header().Set("ETag", `"x"`)
		w.Header().Set("Last-Modified", "Mon, 01 Jan 2024 00:00:00 GMT")
		status := http.StatusOK
		if rg := r.Header.Get("Range"); rg != "" {
			var lo, hi int
			if _, err := fmt.Sscanf(rg, "bytes=%d-%d", &lo, &hi); err != nil || lo > hi || lo >= len(b) {
				s3Error(w, http.StatusRequestedRangeNotSatisfiable, "InvalidRange")
				return
			}
			hi = min(hi, len(b)-1)
			w.Header().Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", lo, hi, len(b)))
			b, status = b[lo:hi+1], http.StatusPartialContent
		}
		w.Header().Set("Content-Length", strconv.Itoa(len(b)))
		w.WriteHeader(status)
		if r.Method == http.MethodGet {
			f.Gets.Add(1)
			n, _ := w.Write(b)
			f.Sent.Add(int64(n))
		}
	default:
		w.WriteHeader(http.StatusMethodNotAllowed)
	}
}

// decodeAWSChunked undoes the aws-chunked content encoding of a streaming
// SigV4 upload: "hex-size;chunk-signature=...\r\n" data "\r\n", up to a
// chunk of size 0 (signatures are not checked).
func decodeAWSChunked(b []byte) ([]byte, error) {
	var out []byte
	for {
		line, rest, ok := bytes.Cut(b, []byte("\r\n"))
		if !ok {
			return nil, errors.New("aws-chunked: no chunk header")
		}
		hexSize, _, _ := bytes.Cut(line, []byte(";"))
		n, err := strconv.ParseInt(string(hexSize), 16, 64)
		if err != nil || n < 0 || n > int64(len(rest)) {
			return nil, errors.New("aws-chunked: bad chunk size")
		}
		if n == 0 {
			return out, nil
		}
		out = append(out, rest[:n]...)
		b = bytes.TrimPrefix(rest[n:], []byte("\r\n"))
	}
}

func s3Error(w http.ResponseWriter, status int, code string) {
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(status)
	fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>%s</Code><Message>%s</Message></Error>`, code, code)
}
